"""UnifiedRetriever: the face users type — load a model, encode queries and documents.

It composes lower layers and re-implements none: ``items`` normalises inputs, a ``Backbone`` embeds
them, ``encoding`` batches them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from unret.backbones import Backbone, load_backbone
from unret.encoding import as_output, encode_items
from unret.items import to_items

CONFIG_NAME = "unret_config.json"
FORMAT_VERSION = 1


class UnifiedRetriever:
    """One embedding space for text, code and images.

    >>> r = UnifiedRetriever.from_pretrained("Qwen/Qwen2.5-VL-3B-Instruct", device="cuda", dtype="bfloat16")
    >>> q = r.encode_queries(["function that plots a bar chart"], task="nl2code")
    >>> d = r.encode_documents([Code("def bar(x): ..."), Image.open("chart.png")])
    >>> scores = q @ d.T
    """

    def __init__(self, backbone: Backbone, model_ref: dict[str, Any] | None = None,
                 truncate_dim: int | None = None):
        self.backbone = backbone
        self.model_ref = model_ref or {}
        self.truncate_dim = truncate_dim

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, device: str | torch.device | None = None,
                        dtype: str | torch.dtype | None = None, truncate_dim: int | None = None,
                        **backbone_kwargs: Any) -> UnifiedRetriever:
        """Load a hub model or local folder (a transformers checkpoint or a ``save_pretrained`` folder).

        ``backbone_kwargs`` go to the backbone: ``prompts`` (a preset name such as ``"oneword"`` or
        ``"supervised"``), ``pooling``, ``max_length``, ``min_pixels`` / ``max_pixels``, ``padding_side``,
        ``revision``, ``kind`` and any ``AutoModel.from_pretrained`` argument (``attn_implementation``…).
        """
        path = Path(name_or_path).expanduser()
        if (path / CONFIG_NAME).is_file():
            saved = json.loads((path / CONFIG_NAME).read_text())
            backbone_cfg = dict(saved["backbone"])
            kind = backbone_cfg.pop("kind")
            backbone_kwargs = {**backbone_cfg, **backbone_kwargs}
            backbone = load_backbone(str(path), kind=kind, dtype=dtype, device=device, **backbone_kwargs)
            truncate_dim = truncate_dim if truncate_dim is not None else saved.get("truncate_dim")
            return cls(backbone, saved.get("model"), truncate_dim)
        backbone = load_backbone(str(name_or_path), dtype=dtype, device=device, **backbone_kwargs)
        ref = {"name_or_path": str(name_or_path), "revision": backbone_kwargs.get("revision")}
        return cls(backbone, ref, truncate_dim)

    def save_pretrained(self, path: str | Path) -> None:
        """Write weights, processor and unret settings so ``from_pretrained(path)`` restores this retriever."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.backbone.save(path)
        config = {
            "format_version": FORMAT_VERSION,
            "model": self.model_ref,
            "backbone": self.backbone.config(),
            "truncate_dim": self.truncate_dim,
        }
        (path / CONFIG_NAME).write_text(json.dumps(config, indent=2))

    @property
    def dim(self) -> int:
        """Dimension of the vectors this retriever returns."""
        return self.truncate_dim or self.backbone.dim

    @property
    def modalities(self) -> frozenset[str]:
        return self.backbone.modalities

    def encode(self, inputs: Any | Iterable[Any], role: Literal["query", "document"] = "document",
               batch_size: int = 8, task: str | None = None, instruction: str | None = None,
               truncate_dim: int | None = None, show_progress: bool | None = None,
               convert_to: Literal["torch", "numpy"] = "torch",
               sort_by_length: bool = True) -> torch.Tensor | np.ndarray:
        """Embed one input or a list of inputs of any supported modalities, mixed freely.

        Returns (N, dim) for a list, (dim,) for a single input, L2-normalised, on CPU unless the backbone
        is on another device. See ``unret.items`` for what counts as text, code, an image or a file.
        """
        items, single = to_items(inputs)
        vectors = encode_items(
            self.backbone, items, role=role, batch_size=batch_size, task=task, instruction=instruction,
            truncate_dim=truncate_dim if truncate_dim is not None else self.truncate_dim,
            sort_by_length=sort_by_length, show_progress=show_progress, convert_to=convert_to,
        )
        return as_output(vectors, single)

    def encode_queries(self, inputs: Any | Iterable[Any], **kwargs: Any) -> torch.Tensor | np.ndarray:
        """Embed queries (query prompts; ``task=`` / ``instruction=`` apply)."""
        return self.encode(inputs, role="query", **kwargs)

    def encode_documents(self, inputs: Any | Iterable[Any], **kwargs: Any) -> torch.Tensor | np.ndarray:
        """Embed documents (document prompts; task-agnostic, so one index serves every task)."""
        return self.encode(inputs, role="document", **kwargs)
