"""A sentence-transformers package run by sentence-transformers itself: the fallback for packages whose
modules unret does not run (Dense projections, Routers, max / weighted-mean pooling, custom modules…).

unret would otherwise have to guess, and a guessed recipe gives silently different vectors; running the
package through ``SentenceTransformer`` gives exactly the author's vectors. Prompts follow
sentence-transformers: queries use ``encode_query``'s prompt, documents ``encode_document``'s, and an
``instruction=`` is passed as ``prompt=`` (it replaces the package's prompt, as in sentence-transformers).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from unret.backbones.base import Backbone
from unret.backbones.pooling import normalize
from unret.backbones.registry import register
from unret.backbones.st_package import read_package
from unret.items import Item


def _claims(name_or_path: str, revision: str | None = None) -> bool:
    """Packages unret cannot run with its own backbones (supported packages go to hf_text / qwen_vl)."""
    package = read_package(name_or_path, revision)
    return package is not None and not package.supported


@register("sentence_transformers", claims=_claims)
class SentenceTransformerBackbone(Backbone):
    """Any sentence-transformers package, encoded by ``SentenceTransformer.encode``."""

    def __init__(self, model, name_or_path: str):
        super().__init__("plain", getattr(model, "max_seq_length", None))
        self.model = model
        self.name_or_path = name_or_path
        modalities = set(getattr(model, "modalities", None) or ["text"])
        self.modalities = frozenset(({"text", "code"} if "text" in modalities else set())
                                    | ({"image"} if "image" in modalities else set())
                                    | ({"image+text"} if "message" in modalities else set()))

    @classmethod
    def from_pretrained(cls, name_or_path: str, dtype: torch.dtype | None = None, revision: str | None = None,
                        trust_remote_code: bool = False, **_: Any) -> SentenceTransformerBackbone:
        """Load with ``SentenceTransformer``; unret settings that do not apply (prompts…) are ignored."""
        from sentence_transformers import SentenceTransformer

        model_kwargs = {"dtype": dtype} if dtype is not None else {}
        model = SentenceTransformer(name_or_path, device="cpu", revision=revision,
                                    trust_remote_code=trust_remote_code, model_kwargs=model_kwargs)
        return cls(model.eval(), name_or_path)

    @property
    def dim(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())

    def prepare(self, items: Sequence[Item], role: str = "document", task: str | None = None,
                instruction: str | None = None, positions: Sequence[int] | None = None) -> dict[str, Any]:
        self.check_modalities(items, positions)
        items = self.load_images(items, positions)
        inputs: list[Any] = []
        for item in items:
            if item.has_image and item.text is not None:
                inputs.append({"image": item.image, "text": item.text})
            else:
                inputs.append(item.image if item.has_image else item.text)
        if task is not None and instruction is None:
            instruction = self.prompts.tasks[task]
        return {"inputs": inputs, "role": role, "instruction": instruction if role == "query" else None}

    def forward(self, inputs: list[Any], role: str = "document", instruction: str | None = None,
                **_: Any) -> torch.Tensor:
        encode = self.model.encode_query if role == "query" else self.model.encode_document
        vectors = encode(inputs, prompt=instruction, batch_size=max(1, len(inputs)), convert_to_tensor=True,
                         show_progress_bar=False)
        return normalize(vectors)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "max_length": None}

    def save(self, path: str | Path) -> None:
        self.model.save(str(path))
