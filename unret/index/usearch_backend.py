"""The default ANN backend: usearch HNSW graphs, one per shard of contiguous keys.

usearch traps handled here (docs/architecture.md): dtype is always passed; ``expansion_search`` is
re-applied after every restore; single-query searches come back as ``Matches`` (unpadded) and batch
searches as ``BatchMatches`` padded past ``counts``; inserts run on one thread (parallel inserts strand
unreachable nodes, usearch#735).
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from usearch.index import Index

from unret.errors import IndexCorruptError
from unret.index.backend import register_backend

AUTO_DTYPE_ORDER = ("bf16", "f16")  # what dtype="auto" tries, fastest first (docs/performance.md § Index)


@functools.cache
def fastest_dtype(metric: str = "cos") -> str:
    """The first of ``AUTO_DTYPE_ORDER`` that usearch runs with SIMD kernels on this CPU, else ``"f32"``.

    Without hardware kernels usearch falls back to scalar code ("serial"), which is slower than f32's.
    """
    for dtype in AUTO_DTYPE_ORDER:
        if getattr(Index(ndim=64, metric=metric, dtype=dtype), "hardware_acceleration", "serial") != "serial":
            return dtype
    return "f32"


@register_backend
class UsearchBackend:
    """HNSW shards; shard i holds keys in ``[first_key[i], first_key[i + 1])``."""

    name = "usearch"

    def __init__(self, dim: int, metric: str, dtype: str = "f32", connectivity: int = 16,
                 expansion_add: int = 128, expansion_search: int = 64, shard_size: int | None = None) -> None:
        self.dim, self.metric, self.dtype = dim, metric, dtype
        self.connectivity, self.expansion_add = connectivity, expansion_add
        self.expansion_search, self.shard_size = expansion_search, shard_size
        self.shards: list[Index] = [self._new_shard()]
        self.first_key = [0]

    def __len__(self) -> int:
        return sum(len(s) for s in self.shards)

    @property
    def num_shards(self) -> int:
        return len(self.shards)

    def _new_shard(self) -> Index:
        return Index(ndim=self.dim, metric=self.metric, dtype=self.dtype, connectivity=self.connectivity,
                     expansion_add=self.expansion_add, expansion_search=self.expansion_search)

    def set_expansion_search(self, value: int) -> None:
        self.expansion_search = value
        for shard in self.shards:
            shard.expansion_search = value

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Fill the last shard up to ``shard_size`` and open new shards as needed."""
        start = 0
        while start < len(keys):
            room = len(keys) - start if self.shard_size is None else self.shard_size - len(self.shards[-1])
            if room <= 0:
                self.shards.append(self._new_shard())
                self.first_key.append(int(keys[start]))
                continue
            # threads=1: concurrent usearch inserts can strand nodes that no search ever reaches
            # (unum-cloud/usearch#735, 2.26); measured here: ~0.3% of items unreachable with 2 threads.
            self.shards[-1].add(keys[start : start + room], vectors[start : start + room], threads=1)
            start += room

    def remove(self, keys: Iterable[int]) -> None:
        for key in keys:
            self.shards[bisect.bisect_right(self.first_key, key) - 1].remove(key)

    def search(self, queries: np.ndarray, fetch: int) -> list[np.ndarray]:
        """Candidate keys per query, concatenated over shards.

        The beam is at least 2·fetch: usearch searches with max(expansion_search, fetch), and a beam no
        wider than the list it returns leaves that list's tail inaccurate (filtered recall at 100k
        went from ~0.90 to ~0.96 with the slack). The merge is a concatenation: candidates are re-scored
        exactly in float32 afterwards, so usearch ``Indexes`` (which merges by the shards' own, possibly
        quantised, distances) adds nothing; it measured the same speed (docs/performance.md).
        """
        parts: list[list[np.ndarray]] = [[] for _ in queries]
        for shard in self.shards:
            if len(shard) == 0:
                continue
            beam = max(self.expansion_search, 2 * fetch)
            if beam == self.expansion_search:  # the common case (k <= ef / 2): no setting round trip
                matches = shard.search(queries, fetch)
            else:
                shard.expansion_search = beam
                try:
                    matches = shard.search(queries, fetch)
                finally:
                    shard.expansion_search = self.expansion_search
            if len(queries) == 1:  # usearch returns unpadded Matches for a single query
                parts[0].append(matches.keys)
            else:  # BatchMatches: rows are padded with key 0 past counts
                for p, keys, count in zip(parts, matches.keys, matches.counts, strict=True):
                    p.append(keys[:count])
        return [np.concatenate(p) if p else np.empty(0, np.uint64) for p in parts]

    def save(self, folder: Path) -> list[dict[str, Any]]:
        shards = []
        for i, (shard, first_key) in enumerate(zip(self.shards, self.first_key, strict=True)):
            name = f"shard-{i:05d}.usearch"
            shard.save(str(folder / name))
            shards.append({"file": name, "first_key": first_key, "count": len(shard)})
        return shards

    @classmethod
    def restore(cls, folder: Path, shards: list[dict[str, Any]], dim: int, metric: str, view: bool,
                **options: Any) -> UsearchBackend:
        self = cls(dim, metric, **options)
        first = [s.get("first_key") for s in shards]
        if not all(type(f) is int for f in first) or first[0] != 0 or first != sorted(set(first)):
            raise IndexCorruptError(f"{folder}: shard first_key values {first!r} are not 0 and then increasing")
        self.shards = []
        for s in shards:
            file = folder / s["file"]
            shard = Index.restore(str(file), view=view)
            if shard is None or len(shard) != s["count"] or shard.ndim != dim:
                raise IndexCorruptError(f"{file} does not hold the {s['count']} vectors of dim {dim} "
                                        "the manifest lists")
            shard.expansion_search = self.expansion_search  # not persisted by usearch
            self.shards.append(shard)
        self.first_key = [s["first_key"] for s in shards]
        return self
