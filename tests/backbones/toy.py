"""A toy backbone for tests of the backbone contract: pure torch, no checkpoint, deterministic."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from unret.backbones.base import Backbone
from unret.items import Item

DIM = 16


def _features(item: Item, template: str) -> list[float]:
    """Character-trigram hashing of the worded text, plus the mean colour of the image."""
    counts = [0.0] * DIM
    text = template.replace("{content}", item.text or "")
    for i in range(max(len(text) - 2, 0)):
        counts[hashlib.md5(text[i : i + 3].encode()).digest()[0] % (DIM - 3)] += 1.0
    if isinstance(item.image, Image.Image):
        counts[DIM - 3 :] = [c / 255.0 + 1.0 for c in item.image.resize((1, 1)).getpixel((0, 0))]
    return counts


class ToyBackbone(Backbone):
    """Embeds text, code and images: a linear layer over hashed trigrams and mean colour."""

    modalities = frozenset({"text", "code", "image", "image+text"})

    def __init__(self, prompts: str = "plain", seed: int = 0, image_size: int = 8):
        super().__init__(prompts)
        torch.manual_seed(seed)
        self.proj = torch.nn.Linear(DIM, DIM)
        self.image_size = image_size

    @classmethod
    def from_pretrained(cls, name_or_path: str, dtype: torch.dtype | None = None, **kwargs: Any) -> ToyBackbone:
        """``"toy:SEED"``: no files; the seed picks the weights."""
        return cls(seed=int(str(name_or_path).rsplit(":", 1)[-1]), **kwargs)

    @property
    def dim(self) -> int:
        return DIM

    def input_image(self, image: Image.Image) -> Image.Image:
        return image.resize((self.image_size, self.image_size))

    def prepare(self, items: Sequence[Item], role: str = "document", task: str | None = None,
                instruction: str | None = None, positions: Sequence[int] | None = None) -> dict[str, Any]:
        self.check_modalities(items, positions)
        loaded = self.load_images(items, positions)
        rows = [_features(item, self.prompts.resolve(role, item.modality, task, instruction).template)
                for item in loaded]
        return {"features": torch.tensor(rows), "meta": {"count": torch.tensor(len(rows))}}

    def forward(self, features: torch.Tensor, meta: dict[str, Any] | None = None) -> torch.Tensor:
        return F.normalize(self.proj(features.to(self.proj.weight)), dim=-1)


class TextOnlyToy(ToyBackbone):
    modalities = frozenset({"text", "code"})
