"""VectorIndex: the facade over a catalog, the exact float32 store, an ANN backend and storage.

One re-entrant lock per index guards every read and write of the live state (re-entrant so a ``where``
callable may call ``get``); the pieces below it hold no locks.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from unret.errors import ReadOnlyIndexError
from unret.index import persist
from unret.index.backend import AnnBackend, backend_class
from unret.index.catalog import Catalog
from unret.index.exact import ExactStore, row_norms
from unret.index.planner import accepts, filtered_search, make_filter, modality_counts
from unret.index.types import Hit, Where
from unret.index.usearch_backend import fastest_dtype
from unret.index.validate import (
    DTYPES,
    F16_MAX,
    METRICS,
    as_id_list,
    as_matrix,
    check_batch,
    check_filters,
    check_norms,
    check_positive_int,
    check_text,
    label,
)

if TYPE_CHECKING:
    import torch


class VectorIndex:  # the "usearch" VectorStore (unret.store.protocol)
    """Dense vectors with string ids, a modality and JSON metadata each; ANN (HNSW) or exact search.

    A float32 copy of every vector is kept next to the ANN graphs. It makes ``exact=True`` truly
    exact whatever the HNSW dtype, lets every hit be re-scored exactly (so scores are comparable across
    shards and dtypes, and f16/i8 candidates are re-ranked), and serves ``vectors()``. It costs 4·dim bytes
    per vector; ``load(view=True)`` memory-maps it instead of reading it into RAM.

    ``dtype`` is the HNSW graph's vector type only (hits are re-scored from the float32 copy either way).
    The default ``"auto"`` picks ``"bf16"`` where this CPU has SIMD kernels for it, else ``"f16"``, else
    ``"f32"``: on real embeddings bf16 searched 2.3× faster than f32 at the same recall@10 (0.9936 vs
    0.9946 at ef=256) and builds 2× faster. ``"i8"`` caps recall (~0.95 on real data) — see
    docs/performance.md. ``backend`` names a registered ANN backend (``unret.index.backend``).
    """

    kind = "usearch"

    def __init__(
        self,
        dim: int,
        metric: str = "cos",
        dtype: str = "auto",
        connectivity: int = 16,
        expansion_add: int = 128,
        expansion_search: int = 64,
        shard_size: int | None = None,
        model: dict | None = None,
        backend: str | type = "usearch",
    ) -> None:
        for name, value in (("dim", dim), ("connectivity", connectivity), ("expansion_add", expansion_add),
                            ("expansion_search", expansion_search)):
            check_positive_int(name, value)
        if shard_size is not None:
            check_positive_int("shard_size", shard_size)
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        if dtype == "auto":
            dtype = fastest_dtype(metric)
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be 'auto' or one of {DTYPES}, got {dtype!r}")
        if dtype == "i8" and metric == "ip":
            # usearch L2-normalises vectors when quantising to i8, so HNSW would rank by cosine.
            raise ValueError("dtype='i8' with metric='ip' ranks by cosine in usearch; use metric='cos'")
        if model is not None and not isinstance(model, dict):
            raise TypeError(f"model must be a dict or None, got {type(model).__name__}")
        try:
            check_text("model", json.dumps(model, allow_nan=False, ensure_ascii=False))
        except (TypeError, ValueError) as e:
            raise ValueError(f"model must be JSON-serialisable: {e}") from e
        self.dim, self.metric, self.dtype = dim, metric, dtype
        self.connectivity, self.expansion_add = connectivity, expansion_add
        self._expansion_search = expansion_search
        self.shard_size, self.model = shard_size, model
        self._backend_cls = backend_class(backend)
        self._lock = threading.RLock()
        self._in_search = threading.local()  # set while this thread runs a search (and its where callable)
        self._read_only = False
        self._ann: AnnBackend = self._backend_cls(dim, metric, **self._options())
        self._catalog = Catalog()
        self._store = ExactStore(dim, metric)

    def _options(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "connectivity": self.connectivity, "expansion_add": self.expansion_add,
                "expansion_search": self._expansion_search, "shard_size": self.shard_size}

    # ------------------------------------------------------------------ properties and lookups

    @property
    def backend(self) -> str:
        """Name of the ANN backend (``"usearch"`` by default)."""
        return self._backend_cls.name

    @property
    def expansion_search(self) -> int:
        """HNSW search beam width; a property because usearch forgets it on save and restore."""
        return self._expansion_search

    @expansion_search.setter
    def expansion_search(self, value: int) -> None:
        check_positive_int("expansion_search", value)
        with self._lock:
            self._expansion_search = value
            self._ann.set_expansion_search(value)

    @property
    def read_only(self) -> bool:
        """True for an index loaded with ``view=True`` (memory-mapped): add and remove raise."""
        return self._read_only

    @property
    def num_shards(self) -> int:
        return self._ann.num_shards

    def __len__(self) -> int:
        return self._catalog.n

    def __contains__(self, id: object) -> bool:
        return id in self._catalog

    def ids(self) -> Iterator[str]:
        """Iterate over a snapshot of the ids, so concurrent writes cannot break the iteration."""
        with self._lock:
            snapshot = self._catalog.ids[: self._catalog.n]
        return iter(snapshot)

    def get(self, id: str) -> tuple[str, dict]:
        """Return ``(modality, metadata)`` for ``id``; KeyError if absent."""
        with self._lock:
            row = self._catalog.row_of(id)
            return self._catalog.modality(row), self._catalog.metadata(row)

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        """Return the stored float32 vectors of ``ids`` as a new ``(len(ids), dim)`` array."""
        ids = as_id_list(ids)
        with self._lock:
            rows = np.array([self._catalog.row_of(i) for i in ids], np.int64)
            return np.asarray(self._store.vecs[rows])

    def accepts(self, ids: Sequence[str], modality: str | Collection[str] | None = None,
                where: Where | None = None) -> np.ndarray:
        """A bool per id: indexed and passing ``modality`` / ``where`` exactly as ``search`` filters, in one call."""
        modality = [modality] if isinstance(modality, str) else None if modality is None else list(modality)
        with self._lock:
            return accepts(self._catalog, list(ids), modality, where)

    def modality_counts(self) -> dict[str, int]:
        with self._lock:
            return modality_counts(self._catalog)

    def close(self) -> None:
        """Nothing to release (files are read at load, or memory-mapped until garbage-collected)."""

    # ------------------------------------------------------------------ writes

    def add(
        self,
        ids: Sequence[str],
        vectors: np.ndarray | torch.Tensor,
        modalities: str | Sequence[str],
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> None:
        """Add a batch; an id already present is replaced (vector, modality and metadata).

        Everything is validated before anything changes, so a bad batch leaves the index as it was.
        ``modalities`` may be one string for the whole batch.
        """
        self._check_writable()
        ids, x, mods, meta_json = check_batch(ids, vectors, modalities, metadata, self.dim)
        n = len(ids)
        norms = row_norms(x)
        check_norms(norms, self.metric, "vectors", ids)
        if self.metric == "cos":  # the graph gets unit vectors: no overflow in f16, no rescaling in usearch
            graph = (x / norms[:, None]).astype(np.float32)
        else:
            graph = x
            big = np.flatnonzero(np.abs(x).max(axis=1, initial=0) > F16_MAX) if self.dtype == "f16" else []
            if len(big):
                raise ValueError(f"vectors: {label(int(big[0]), ids)} has values beyond float16's range "
                                 f"(±{F16_MAX:g}) of this dtype='f16' graph; use dtype='bf16' or 'f32'")

        with self._lock:
            cat = self._catalog
            self._remove_keys([cat.key_of_id[i] for i in ids if i in cat])
            keys = cat.new_keys(n)
            self._ann.add(keys, graph)
            self._store.reserve(cat.n + n)
            rows = cat.append(ids, keys, mods, meta_json)
            self._store.set_rows(rows, x, norms)

    def remove(self, ids: str | Iterable[str]) -> int:
        """Remove ids and return how many were removed; an unknown id raises KeyError and removes nothing."""
        self._check_writable()
        ids = list(dict.fromkeys([ids] if isinstance(ids, str) else ids))
        with self._lock:
            missing = [i for i in ids if i not in self._catalog]
            if missing:
                raise KeyError(f"unknown id(s), nothing removed: {missing[:5]!r}")
            self._remove_keys([self._catalog.key_of_id[i] for i in ids])
        return len(ids)

    def _check_writable(self) -> None:
        if getattr(self._in_search, "depth", 0):
            raise RuntimeError("a where callable may not add to or remove from the index it is filtering")
        if self._read_only:
            raise ReadOnlyIndexError("this VectorIndex was loaded with view=True (memory-mapped, read-only); "
                                     "load it with view=False to add or remove")

    def _remove_keys(self, keys: list[int]) -> None:
        self._ann.remove(keys)
        for key in keys:
            row, last = self._catalog.remove_key(key)
            self._store.move(last, row)

    # ------------------------------------------------------------------ search

    def search(
        self,
        queries: np.ndarray | torch.Tensor,
        k: int = 10,
        modality: str | Collection[str] | None = None,
        where: Where | None = None,
        exact: bool = False,
    ) -> list[list[Hit]]:
        """Top-``k`` hits for each query (``(Q, D)`` or ``(D,)``), best first; one list per query.

        ``modality`` keeps only hits of that modality (or any of a collection); ``where`` keeps hits whose
        metadata has all the given key/value pairs, or for which ``where(metadata)`` is true. The ANN
        backend has no filtered search: candidates are over-fetched and post-filtered, doubling the
        fetch, and a selective filter switches to exact search over just the matching vectors.
        """
        q = as_matrix(queries, "queries", self.dim, allow_1d=True)
        check_positive_int("k", k)
        modality, where = check_filters(modality, where)
        norms = row_norms(q)
        check_norms(norms, self.metric, "queries")
        if self.metric == "cos":
            q = (q / norms[:, None]).astype(np.float32)

        with self._lock:
            depth = getattr(self._in_search, "depth", 0)
            self._in_search.depth = depth + 1
            try:
                return self._search(q, k, modality, where, exact)
            finally:
                self._in_search.depth = depth

    def _search(self, q: np.ndarray, k: int, modality: list[str] | None, where: Where | None,
                exact: bool) -> list[list[Hit]]:
        cat, n = self._catalog, self._catalog.n
        k = min(k, max(n, 1))  # at most n hits: never ask the backend for more (k=2**31 is fine)
        accept = make_filter(cat, modality, where)
        if n == 0:
            results = [(np.empty(0, np.int64), np.empty(0, np.float32))] * len(q)
        elif exact:
            rows = None if accept is None else np.flatnonzero(accept(np.arange(n)))
            results = self._store.search(q, k, n, rows)
        elif accept is None:
            results = [self._store.rescore(qi, c, k) for qi, c in zip(q, self._candidates(q, k), strict=True)]
        else:
            matching = None if where is not None else np.flatnonzero(accept(np.arange(n)))
            results = filtered_search(self, q, k, accept, matching)
        return [
            [Hit(cat.ids[r], float(s), cat.modality(r), cat.metadata(r))
             for r, s in zip(rows.tolist(), scores.tolist(), strict=True)]
            for rows, scores in results
        ]

    def _candidates(self, q: np.ndarray, fetch: int) -> list[np.ndarray]:
        """ANN candidate rows per query (the backend proposes keys; the catalog maps them to rows)."""
        return [self._catalog.key_row[keys.astype(np.int64)] for keys in self._ann.search(q, fetch)]

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to folder ``path`` atomically; see docs/indexing.md § Durability.

        Everything goes to a temp folder next to ``path`` and is fsynced; then, holding an exclusive lock
        on the parent folder, the old folder is renamed aside, the new one renamed in, and the old one
        deleted. An exception at any step leaves the previous save at ``path``; a crash leaves it at
        ``path`` or ``.<name>.old``, which ``load`` renames back. Only an unret index folder (or an empty
        folder) is ever replaced: anything else at ``path`` raises IndexPathError and is left untouched.
        Saving through a symbolic link replaces the folder it points to.
        """
        persist.save(self, path)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        view: bool = False,
        expected_model: dict | None = None,
        expected_dim: int | None = None,
    ) -> VectorIndex:
        """Load a saved index, verifying its manifest, file sizes and checksums.

        ``view=True`` memory-maps the ANN graphs and vectors for read-only serving. ``expected_dim`` and
        ``expected_model`` refuse an index built for another encoder (ManifestMismatchError); damaged
        files raise IndexCorruptError naming the file. A shared lock on the parent folder makes the load
        see one complete save even while another process saves to ``path``.
        """
        return persist.load(cls, path, view, expected_model, expected_dim)

    def _manifest(self, shards: list[dict[str, Any]]) -> dict[str, Any]:
        """The manifest fields that describe this index (``storage`` adds files and checksums)."""
        return {"backend": self.backend, "model": self.model, "dim": self.dim, "metric": self.metric,
                **self._options(), "count": self._catalog.n, "next_key": self._catalog.next_key, "shards": shards}

    @classmethod
    def _from_manifest(cls, m: dict[str, Any]) -> VectorIndex:
        return cls(m["dim"], m["metric"], m["dtype"], m["connectivity"], m["expansion_add"], m["expansion_search"],
                   m["shard_size"], m["model"], m["backend"])
