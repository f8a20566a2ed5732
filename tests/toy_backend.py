"""A toy ANN backend (exact numpy search) proving the backend protocol: the index tests run on it too."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from unret.index import register_backend


@register_backend
class ToyBackend:
    """Keys and vectors in two growing numpy arrays; ``search`` scores all of them (inner product)."""

    name = "toy"

    def __init__(self, dim: int, metric: str, shard_size: int | None = None, **ignored: Any) -> None:
        self.dim, self.shard_size = dim, shard_size
        self.keys = np.empty(0, np.uint64)
        self.vecs = np.empty((0, dim), np.float32)

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def num_shards(self) -> int:
        return max(1, -(-len(self) // self.shard_size)) if self.shard_size else 1

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        self.keys = np.concatenate([self.keys, keys.astype(np.uint64)])
        self.vecs = np.concatenate([self.vecs, vectors])

    def remove(self, keys: Iterable[int]) -> None:
        keep = ~np.isin(self.keys, np.fromiter(keys, np.uint64))
        self.keys, self.vecs = self.keys[keep], self.vecs[keep]

    def search(self, queries: np.ndarray, fetch: int) -> list[np.ndarray]:
        scores = queries @ self.vecs.T
        top = np.argsort(-scores, axis=1, kind="stable")[:, :fetch]
        return [self.keys[t] for t in top]

    def set_expansion_search(self, value: int) -> None:
        pass

    def save(self, folder: Path) -> list[dict[str, Any]]:
        size = self.shard_size or max(1, len(self))
        entries = []
        for i, start in enumerate(range(0, max(1, len(self)), size)):
            name = f"toy-{i:05d}.npz"
            with open(folder / name, "wb") as f:
                np.savez(f, keys=self.keys[start : start + size], vecs=self.vecs[start : start + size])
            entries.append({"file": name, "count": len(self.keys[start : start + size])})
        return entries

    @classmethod
    def restore(cls, folder: Path, shards: list[dict[str, Any]], dim: int, metric: str, view: bool,
                **options: Any) -> ToyBackend:
        self = cls(dim, metric, **options)
        for s in shards:
            with np.load(folder / s["file"]) as data:
                self.add(data["keys"], data["vecs"])
        return self
