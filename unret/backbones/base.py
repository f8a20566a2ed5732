"""The backbone contract: batches of items in, L2-normalised vectors out.

A backbone is an ``nn.Module`` split in two steps so training can reuse it: ``prepare`` (CPU work:
prompts, tokenisation, image decoding; safe inside a DataLoader worker) builds a batch of tensors, and
``forward`` (the model) turns that batch into embeddings. ``embed`` composes both for inference.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from PIL import Image
from torch import nn

from unret.items import InputError, Item
from unret.prompts import PromptSet, get_prompt_set


class Backbone(nn.Module, ABC):
    """Embeds items of the modalities it supports into ``dim``-dimensional unit vectors."""

    #: modalities this backbone can read; others raise a clear error in ``prepare``.
    modalities: frozenset[str] = frozenset({"text", "code"})
    #: the registry name, set once by ``unret.backbones.registry.register`` and written into saved configs.
    kind: ClassVar[str] = ""

    def __init__(self, prompts: str | PromptSet, max_length: int | None = None, query_length: int | None = None,
                 document_length: int | None = None):
        super().__init__()
        self.prompts = get_prompt_set(prompts)
        self.max_length = max_length
        self.query_length = query_length
        self.document_length = document_length

    def max_length_for(self, role: str) -> int | None:
        """The token cap of a ``role``'s inputs: sentence-transformers' per-task ``query_length`` /
        ``document_length`` replace ``max_length`` for that role where a package sets them."""
        length = self.query_length if role == "query" else self.document_length
        return length if length is not None else self.max_length

    @classmethod
    @abstractmethod
    def from_pretrained(cls, name_or_path: str, dtype: torch.dtype | None = None, **kwargs: Any) -> Backbone:
        """Load from a hub name or folder; settings a backbone does not use are accepted and ignored."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Embedding dimension before any Matryoshka truncation."""

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @abstractmethod
    def prepare(self, items: Sequence[Item], role: str = "document", task: str | None = None,
                instruction: str | None = None, positions: Sequence[int] | None = None) -> dict[str, Any]:
        """Turn items into a batch of CPU tensors for ``forward`` (``positions`` name inputs in errors)."""

    def load_images(self, items: Sequence[Item], positions: Sequence[int] | None = None) -> list[Item]:
        """The items with their images decoded (and brought to this model's input size where it resizes).

        Decoding and resizing are PIL's C code, which runs without the GIL: ``encode_items`` calls this one
        batch ahead in a thread, so JPEG decoding overlaps the forward pass. ``prepare`` accepts both.
        """
        loaded = []
        for i, item in enumerate(items):
            if item.has_image:
                image = item.load_image(positions[i] if positions is not None else i, fit=self.target_size)
                image = self.input_image(image)
                item = dataclasses.replace(item, image=image, size=image.size)
            loaded.append(item)
        return loaded

    def target_size(self, width: int, height: int) -> tuple[int, int] | None:
        """The (width, height) this model reads a ``width`` × ``height`` image at; None: not known up front."""
        return None

    def input_image(self, image: Image.Image) -> Image.Image:
        """The decoded image as this model reads it (identity unless the backbone resizes up front)."""
        return image

    def token_counts(self, items: Sequence[Item], role: str = "document", task: str | None = None,
                     instruction: str | None = None) -> list[int] | None:
        """Each item's exact input length in tokens, where it is cheap to know before ``prepare``; else None.

        ``encode_items`` sorts and batches by these (fewer pad tokens than a character estimate gives).
        """
        return None

    @abstractmethod
    def forward(self, **batch: torch.Tensor) -> torch.Tensor:
        """L2-normalised embeddings (batch_size, dim) of a prepared batch."""

    def config(self) -> dict[str, Any]:
        """What ``unret.backbones.load_backbone`` needs to rebuild this backbone (JSON-serialisable)."""
        return {"kind": self.kind, "prompts": self.prompts.to_dict(), "max_length": self.max_length}

    def save(self, path: str) -> None:  # pragma: no cover - overridden by every concrete backbone
        raise NotImplementedError

    def check_modalities(self, items: Sequence[Item], positions: Sequence[int] | None) -> None:
        for i, item in enumerate(items):
            if item.modality not in self.modalities:
                position = positions[i] if positions is not None else i
                raise InputError(
                    f"input #{position}: {type(self).__name__} cannot embed {item.modality} items "
                    f"(it reads {sorted(self.modalities)}); use a Qwen2.5-VL model for images",
                    position,
                )

    @torch.inference_mode()
    def embed(self, items: Sequence[Item], role: str = "document", **kwargs: Any) -> torch.Tensor:
        """Embeddings (len(items), dim) for one batch, on the backbone's device."""
        batch = self.prepare(items, role=role, **kwargs)
        return self(**to_device(batch, self.device))


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Move every tensor of a (possibly nested) prepared batch to ``device``."""
    def move(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return v.to(device, non_blocking=True)
        return to_device(v, device) if isinstance(v, dict) else v

    return {k: move(v) for k, v in batch.items()}
