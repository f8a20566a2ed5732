"""The ANN backend protocol: what ``VectorIndex`` needs from an approximate nearest-neighbour structure.

The facade owns ids, metadata, the float32 copy and exact re-scoring; a backend only maps integer keys to
vectors and proposes candidate keys for a query. Candidates are re-scored exactly afterwards, so a backend
may quantise, shard or approximate freely. To add one: implement this protocol (see
``unret.index.usearch_backend`` and the toy backend in tests/test_index.py) and ``register_backend`` it;
``create_index(dim, backend="name")`` then builds indexes on it and ``VectorIndex.load`` restores them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class AnnBackend(Protocol):
    """Integer keys → vectors, with approximate search. Constructed as ``cls(dim, metric, **options)``.

    ``options`` are the index settings (``dtype``, ``connectivity``, ``expansion_add``,
    ``expansion_search``, ``shard_size``); a backend ignores those it has no use for. Keys are fresh,
    ascending uint64 and never reused; with ``metric="cos"`` the vectors it is given are unit length.
    """

    name: ClassVar[str]

    def __len__(self) -> int: ...

    @property
    def num_shards(self) -> int: ...

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Insert ``vectors`` (float32, C-contiguous) under ``keys``."""

    def remove(self, keys: Iterable[int]) -> None:
        """Forget ``keys`` (each present)."""

    def search(self, queries: np.ndarray, fetch: int) -> list[np.ndarray]:
        """About ``fetch`` candidate keys per query (any order; re-scored exactly by the caller)."""

    def set_expansion_search(self, value: int) -> None:
        """Search-time effort setting (HNSW beam width); a backend without one ignores it."""

    def save(self, folder: Path) -> list[dict[str, Any]]:
        """Write the structure as files in ``folder``; return one entry per file with at least ``file``
        (a plain name) and ``count`` (vectors in it), stored in the manifest's ``shards``."""

    @classmethod
    def restore(cls, folder: Path, shards: list[dict[str, Any]], dim: int, metric: str, view: bool,
                **options: Any) -> AnnBackend:
        """Rebuild from ``save``'s files and entries; ``view=True`` may memory-map (read-only)."""


_BACKENDS: dict[str, type] = {}


def register_backend(cls: type) -> type:
    """Make ``cls`` available as ``create_index(..., backend=cls.name)`` and to ``load``; usable as a decorator."""
    _BACKENDS[cls.name] = cls
    return cls


def backend_class(name: str | type) -> type:
    if isinstance(name, type):
        return name
    if name not in _BACKENDS:
        raise ValueError(f"unknown index backend {name!r}; registered: {sorted(_BACKENDS)}")
    return _BACKENDS[name]
