"""CLIP (Radford et al., 2021) through open-clip-torch: the dual-encoder baseline for text ↔ image retrieval.

CLIP has two towers and no joint input, so a batch is split: text and code rows go through
``encode_text``, image rows through ``encode_image``, and the vectors are put back in the batch's order.
An item's vector therefore never depends on its batch-mates. Code is read as text (CLIP's BPE lowercases
it and truncates at the 77-token context). An ``image+text`` item gets the sum of its image and text
*unit* vectors, renormalised: like UniIR's CLIP-SF (Wei et al., 2023), which adds the two embeddings, but
on unit vectors so neither tower wins by norm. A fixed, training-free choice that keeps image+text corpora
searchable, not a learned fusion.

Models are named ``open_clip:ARCH`` with ``pretrained=`` an open_clip tag (``"openai"``,
``"laion2b_s34b_b79k"``…; downloaded by open_clip) or a local weights file, or given as a folder in
open_clip's own hub layout (``open_clip_config.json`` + weights), which is also what ``save`` writes. The
image transform is open_clip's own inference transform for the checkpoint; images are decoded by unret
(transparent regions on white, as for every other backbone).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from unret.atomic import atomic_write_text
from unret.backbones.base import Backbone
from unret.backbones.pooling import normalize
from unret.backbones.registry import register
from unret.items import Item
from unret.names import OPEN_CLIP_PREFIX
from unret.prompts import CONTENT, PromptSet

PREFIX = OPEN_CLIP_PREFIX
CONFIG_FILE = "open_clip_config.json"  # open_clip's hub / ``local-dir:`` layout
WEIGHTS_FILE = "open_clip_model.safetensors"
LOCAL_DIR = "local-dir:"
HF_HUB = "hf-hub:"
_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".safetensors", ".npz", ".npy", ".ckpt")


def is_open_clip_folder(path: str | os.PathLike) -> bool:
    """A folder in open_clip's hub layout (what ``OpenCLIPBackbone.save`` writes)."""
    return (Path(path) / CONFIG_FILE).is_file()


def _check_pretrained(arch: str, pretrained: str | None) -> None:
    """Refuse a missing weights file or an unknown tag before open_clip's less specific error."""
    import open_clip

    if pretrained is None:
        raise ValueError(
            f"{PREFIX}{arch} needs pretrained=: an open_clip tag (for {arch}: "
            f"{open_clip.list_pretrained_tags_by_model(arch) or 'none known'}) or a local weights file")
    if os.path.isfile(pretrained):
        return
    looks_like_path = os.sep in pretrained or pretrained.startswith(("~", ".")) or pretrained.endswith(
        _WEIGHT_SUFFIXES)
    if looks_like_path:
        raise FileNotFoundError(f"CLIP weights file not found: {pretrained} (pretrained= for {PREFIX}{arch})")
    tags = open_clip.list_pretrained_tags_by_model(arch)
    if pretrained not in tags:
        raise ValueError(f"unknown pretrained tag {pretrained!r} for {arch}; open_clip knows {tags or 'none'} "
                         "(or pass a local weights file)")


def _claims(name_or_path: str, revision: str | None = None) -> bool:
    return str(name_or_path).startswith(PREFIX) or is_open_clip_folder(name_or_path)


@register("open_clip", claims=_claims)
class OpenCLIPBackbone(Backbone):
    """An open_clip CLIP model: text/code via the text tower, images via the image tower, in one batch."""

    modalities = frozenset({"text", "code", "image", "image+text"})

    def __init__(self, model, preprocess, tokenizer, model_cfg: dict[str, Any], prompts: str | PromptSet = "plain",
                 arch: str | None = None, pretrained: str | None = None):
        super().__init__(prompts, getattr(tokenizer, "context_length", None))
        for (role, modality), prompt in self.prompts.prompts.items():
            if prompt.chat or prompt.assistant_prefix or prompt.system or prompt.append_eos:
                raise ValueError(f"prompt set {self.prompts.name!r} uses chat turns / EOS ({role} {modality}); CLIP "
                                 "reads plain text: use prompts='plain' or plain templates like 'a photo of {content}'")
        self.model = model.eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.model_cfg = model_cfg
        self.arch = arch
        self.pretrained = pretrained

    @classmethod
    def from_pretrained(cls, name_or_path: str, pretrained: str | None = None, prompts: str | PromptSet | None = None,
                        dtype: torch.dtype | None = None, **_: Any) -> OpenCLIPBackbone:
        """Load ``open_clip:ARCH`` with ``pretrained=`` (tag or file), or an open_clip folder / hub repository.

        A folder (``open_clip:/path``, ``open_clip:local-dir:/path`` or a plain path holding
        ``open_clip_config.json``) and ``open_clip:hf-hub:org/repo`` carry their own weights, so
        ``pretrained`` is ignored for them.
        Unused keys (``revision``, ``max_length``…) that other backbones take are accepted and ignored.
        """
        import open_clip

        name = name_or_path[len(PREFIX):] if name_or_path.startswith(PREFIX) else name_or_path
        name = name[len(LOCAL_DIR):] if name.startswith(LOCAL_DIR) else name
        folder = is_open_clip_folder(name)
        if folder:
            source, arch, pretrained = f"{LOCAL_DIR}{name}", None, None
            model_cfg = json.loads((Path(name) / CONFIG_FILE).read_text())["model_cfg"]
        else:
            if Path(name).is_dir():
                raise FileNotFoundError(f"{name} is a folder without {CONFIG_FILE}; not an open_clip model")
            arch = name
            model_cfg = open_clip.get_model_config(arch)
            if model_cfg is None:
                raise ValueError(f"unknown open_clip architecture {arch!r}; see open_clip.list_models()")
            if arch.startswith(HF_HUB):  # a hub repository carries its own weights, like a folder
                pretrained = None
            else:
                _check_pretrained(arch, pretrained)
            source = arch
        model, _, preprocess = open_clip.create_model_and_transforms(source, pretrained=pretrained)
        if dtype is not None:
            model = model.to(dtype)
        tokenizer = open_clip.get_tokenizer(source)
        return cls(model, preprocess, tokenizer, model_cfg, prompts or "plain", arch=arch, pretrained=pretrained)

    @property
    def dim(self) -> int:
        return int(self.model_cfg["embed_dim"])

    def prepare(self, items: Sequence[Item], role: str = "document", task: str | None = None,
                instruction: str | None = None, positions: Sequence[int] | None = None) -> dict[str, Any]:
        self.check_modalities(items, positions)
        texts, text_rows, images, image_rows = [], [], [], []
        for i, item in enumerate(items):
            if item.has_image:
                images.append(self.preprocess(item.load_image(positions[i] if positions is not None else i)))
                image_rows.append(i)
            if item.text is not None:
                template = self.prompts.resolve(role, item.modality, task, instruction).template
                texts.append(template.replace(CONTENT, item.text))
                text_rows.append(i)
        batch: dict[str, Any] = {"size": len(items), "text_rows": torch.tensor(text_rows, dtype=torch.long),
                                 "image_rows": torch.tensor(image_rows, dtype=torch.long)}
        if texts:
            batch["input_ids"] = self.tokenizer(texts)  # (num_texts, context_length)
        if images:
            batch["pixel_values"] = torch.stack(images)  # (num_images, 3, height, width)
        return batch

    def forward(self, size: int, text_rows: torch.Tensor, image_rows: torch.Tensor,
                input_ids: torch.Tensor | None = None, pixel_values: torch.Tensor | None = None,
                **_: Any) -> torch.Tensor:
        out = torch.zeros(size, self.dim, device=self.device, dtype=torch.float32)  # (batch_size, embed_dim)
        if input_ids is not None:
            out.index_add_(0, text_rows, normalize(self.model.encode_text(input_ids)))
        if pixel_values is not None:
            dtype = next(self.model.visual.parameters()).dtype
            out.index_add_(0, image_rows, normalize(self.model.encode_image(pixel_values.to(dtype))))
        return normalize(out)  # image+text rows: the renormalised sum of both unit vectors

    def config(self) -> dict[str, Any]:
        return {**super().config(), "pretrained": self.pretrained}

    def save(self, path: str | os.PathLike) -> None:
        """Write open_clip's hub layout: ``open_clip_config.json`` + safetensors weights (+ HF tokenizer)."""
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        preprocess_cfg = dict(getattr(self.model.visual, "preprocess_cfg", {}) or {})
        atomic_write_text(path / CONFIG_FILE, json.dumps({"model_cfg": self.model_cfg, "preprocess_cfg": preprocess_cfg,
                                                          "unret": {"arch": self.arch, "pretrained": self.pretrained}},
                                                         indent=2))
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(path / WEIGHTS_FILE))
        hf_tokenizer = getattr(self.tokenizer, "tokenizer", None)
        if hasattr(hf_tokenizer, "save_pretrained"):  # HF-tokenized models (SigLIP, …) read it from the folder
            hf_tokenizer.save_pretrained(path)
