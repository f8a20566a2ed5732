"""A fused backbone: two backbones (e.g. Qwen2.5-Coder + Qwen2.5-VL) and a fusion head, one space.

Each backbone embeds the items it can read with its own prompts and pooling; the head mixes the two
vectors (``unret.fusion``); an item only one backbone reads (an image) takes that backbone's path alone.
It is a ``Backbone`` like any other, so ``UnifiedRetriever``, the index, training and evaluation use it
unchanged. Frozen backbones (the default) run without gradients and cache their vectors per item, so
training a head does not re-embed the corpus every epoch. ``prepare`` stays pure CPU work (safe in a
DataLoader worker): for a caching side it computes the items' content keys; ``forward`` consults the cache
(memory and the optional SQLite file, in the process that owns the model) and prepares and runs a backbone
only for a batch whose items are not all cached.

Saved as a folder: ``fusion.json`` (head type and dims, and per backbone its source, settings and a probe
fingerprint), ``fusion_head.safetensors``, and the backbones' weights only when they were trained
(otherwise their hub names / folders are referenced). Loading refuses backbones that embed differently
from the ones the head was trained on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from unret.atomic import atomic_write_text
from unret.backbones.base import Backbone, to_device
from unret.backbones.cache import EmbeddingCache
from unret.backbones.identity import model_digest, probe_mismatch, probe_vector
from unret.backbones.pooling import normalize
from unret.backbones.registry import register
from unret.errors import FusionMismatchError
from unret.fusion import FusionHead, build_head
from unret.items import Item
from unret.keys import item_key

FUSION_CONFIG = "fusion.json"
HEAD_WEIGHTS = "fusion_head.safetensors"
SIDES = ("a", "b")


def cache_key(item: Item, role: str = "document", task: str | None = None, instruction: str | None = None) -> str:
    """The embedding-cache key of an item as ``prepare`` computes it (to warm a cache with known vectors)."""
    return item_key(item, (role, task, instruction))


class _Request:
    """One side's items and prompt settings, prepared later (an opaque object, so batch transfers leave it be)."""

    def __init__(self, items: list[Item], role: str, task: str | None, instruction: str | None,
                 positions: list[int]):
        self.items, self.role, self.task, self.instruction, self.positions = items, role, task, instruction, positions

    def prepare(self, backbone: Backbone) -> dict[str, Any]:
        return backbone.prepare(self.items, role=self.role, task=self.task, instruction=self.instruction,
                                positions=self.positions)


def _claims(name_or_path: str, revision: str | None = None) -> bool:
    return (Path(name_or_path) / FUSION_CONFIG).is_file()


@register("fused", claims=_claims)
class FusedBackbone(Backbone):
    """``head(a(item), b(item))``, L2-normalised; ``a`` is typically the coder, ``b`` the VL model."""

    def __init__(self, a: Backbone, b: Backbone, head: FusionHead, sources: dict[str, str] | None = None,
                 train_backbones: bool = False, cache_dir: str | Path | None = None):
        super().__init__("plain")
        if (head.dim_a, head.dim_b) != (a.dim, b.dim):
            raise FusionMismatchError(f"the fusion head expects backbone dims ({head.dim_a}, {head.dim_b}) "
                                      f"but the backbones give ({a.dim}, {b.dim})")
        self.a, self.b, self.head = a, b, head
        self.sources = dict(sources or {})
        self.train_backbones = train_backbones
        self.cache_dir = str(cache_dir) if cache_dir is not None else None
        self.modalities = frozenset(a.modalities | b.modalities)
        self.fingerprints = {side: probe_vector(getattr(self, side)) for side in SIDES}
        self.caches: dict[str, EmbeddingCache] = {}
        self.set_train_backbones(train_backbones)

    def set_train_backbones(self, train: bool) -> None:
        """Frozen backbones (the default) get no gradients and cache their vectors per item."""
        self.train_backbones = train
        for side in SIDES:
            backbone = getattr(self, side)
            backbone.requires_grad_(train)
            if train:
                self.caches.pop(side, None)
            else:
                digest = model_digest(self.sources.get(side), backbone.config(), self.fingerprints[side])
                self.caches[side] = EmbeddingCache(digest[:16], self.cache_dir)

    def train(self, mode: bool = True) -> FusedBackbone:
        """Frozen backbones stay in eval mode (no dropout), so cached vectors equal fresh ones."""
        super().train(mode)
        if not self.train_backbones:
            self.a.eval()
            self.b.eval()
        return self

    @classmethod
    def build(cls, model_a: str, model_b: str, head: str = "gated", out_dim: int | None = None,
              train_backbones: bool = False, cache_dir: str | Path | None = None,
              a_kwargs: dict | None = None, b_kwargs: dict | None = None, **common: Any) -> FusedBackbone:
        """Load two backbones by name or folder and put a fresh head of type ``head`` on them."""
        from unret.backbones import load_backbone

        a = load_backbone(model_a, **{**common, **(a_kwargs or {})})
        b = load_backbone(model_b, **{**common, **(b_kwargs or {})})
        return cls(a, b, build_head(head, a.dim, b.dim, out_dim), {"a": model_a, "b": model_b},
                   train_backbones, cache_dir)

    @classmethod
    def from_pretrained(cls, name_or_path: str, dtype: torch.dtype | None = None,
                        cache_dir: str | Path | None = None, **_: Any) -> FusedBackbone:
        """Restore a saved fused backbone; refuses backbones that embed differently than at training."""
        from unret.backbones import load_backbone

        path = Path(name_or_path)
        config_file = path / FUSION_CONFIG
        if not config_file.is_file():
            raise FileNotFoundError(f"{path} is not a fused model folder (no {FUSION_CONFIG})")
        config = json.loads(config_file.read_text())
        parts = {}
        for side in SIDES:
            info = config["backbones"][side]
            settings = dict(info["config"])
            kind = settings.pop("kind")
            source = str(path / side) if info["saved"] else info["source"]
            parts[side] = load_backbone(source, kind=kind, dtype=dtype, **settings)
        head_cfg = dict(config["head"])
        head = build_head(head_cfg.pop("type"), **head_cfg)
        head.load_state_dict(load_file(path / HEAD_WEIGHTS))
        fused = cls(parts["a"], parts["b"], head, {s: config["backbones"][s]["source"] for s in SIDES},
                    train_backbones=False, cache_dir=cache_dir)
        for side in SIDES:
            expected = config["backbones"][side]["fingerprint"]
            drift = probe_mismatch(fused.fingerprints[side], expected)
            if drift is not None:
                raise FusionMismatchError(
                    f"the fusion head in {path} was trained on backbone {side} = "
                    f"{config['backbones'][side]['source']!r}, and the backbone loaded now embeds differently "
                    f"(probe vectors differ by up to {drift:.3g})")
        return fused

    @property
    def dim(self) -> int:
        return self.head.out_dim

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind, "cache_dir": self.cache_dir}

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        backbones = {}
        for side in SIDES:
            backbone = getattr(self, side)
            saved = self.train_backbones or side not in self.sources
            if saved:
                backbone.save(path / side)
            backbones[side] = {"source": self.sources.get(side, f"{side} (saved)"), "saved": saved,
                               "config": backbone.config(), "dim": backbone.dim,
                               "fingerprint": probe_vector(backbone)}
        save_file({k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}, path / HEAD_WEIGHTS)
        atomic_write_text(path / FUSION_CONFIG, json.dumps({"head": self.head.config(), "backbones": backbones},
                                                           indent=2))

    # ------------------------------------------------------------------ batches

    def prepare(self, items: Sequence[Item], role: str = "document", task: str | None = None,
                instruction: str | None = None, positions: Sequence[int] | None = None) -> dict[str, Any]:
        """Each side's inputs for the items it reads; a caching side gets content keys and its items instead.

        A caching (frozen) side is prepared in ``forward``, and only when some item misses the cache: once a
        corpus is cached, an epoch of head training neither tokenises nor decodes anything again.
        """
        self.check_modalities(items, positions)
        positions = list(positions) if positions is not None else list(range(len(items)))
        batch: dict[str, Any] = {"size": len(items)}
        for side in SIDES:
            backbone = getattr(self, side)
            rows = [i for i, item in enumerate(items) if item.modality in backbone.modalities]
            readable = set(rows)
            batch[f"has_{side}"] = torch.tensor([i in readable for i in range(len(items))])
            part: dict[str, Any] = {"rows": torch.tensor(rows, dtype=torch.long), "keys": [], "inputs": None,
                                    "deferred": None}
            request = _Request([items[i] for i in rows], role, task, instruction, [positions[i] for i in rows])
            if side in self.caches:
                part["keys"] = [cache_key(item, role, task, instruction) for item in request.items]
                part["deferred"] = request if rows else None
            elif rows:
                part["inputs"] = request.prepare(backbone)
            batch[side] = part
        return batch

    def _side(self, side: str, part: dict[str, Any], size: int) -> torch.Tensor:
        backbone = getattr(self, side)
        out = torch.zeros(size, backbone.dim, device=self.head_device, dtype=torch.float32)  # (batch, dim_side)
        inputs, deferred = part["inputs"], part["deferred"]
        if inputs is None and deferred is None:
            return out
        rows = part["rows"].to(out.device)
        cache, keys = self.caches.get(side), part["keys"]
        if cache is not None:
            hits = cache.get(keys)
            if len(hits) == len(keys):  # all cached: the backbone neither prepares nor runs
                out[rows] = torch.from_numpy(np.stack([hits[k] for k in keys])).to(out)
                return out
        if inputs is None:
            inputs = to_device(deferred.prepare(backbone), backbone.device)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.train_backbones):
            vectors = backbone(**inputs)  # (rows, dim_side)
        out[rows] = vectors.float()
        if cache is not None:
            cache.put(keys, vectors)
        return out

    @property
    def head_device(self) -> torch.device:
        return next(self.head.parameters()).device

    def forward(self, size: int, has_a: torch.Tensor, has_b: torch.Tensor, a: dict[str, Any], b: dict[str, Any],
                **_: Any) -> torch.Tensor:
        e_a, e_b = self._side("a", a, size), self._side("b", b, size)
        return normalize(self.head(e_a, e_b, has_a.to(e_a.device), has_b.to(e_b.device)))  # (batch, out_dim)
