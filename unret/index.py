"""VectorIndex: usearch HNSW shards + a catalog of ids, modalities and JSON metadata, saved atomically.

Layout of a saved index (one directory)::

    manifest.json         format_version, model, dim, metric, dtype, count, shards, sha256 + size of each file
    shard-00000.usearch   usearch HNSW graphs; shard i holds a contiguous range of keys
    vectors.npy           float32 copy of the live vectors, in catalog row order
    catalog.sqlite        items(row, key, id, modality, metadata JSON)

usearch traps handled here (see DESIGN.md §9): dtype is always passed; keys are uint64 taken from a
monotonic counter and never reused; upsert is remove-then-add under a fresh key; ``expansion_search``
is re-applied after every restore; single-query searches come back as ``Matches`` (unpadded) and batch
searches as ``BatchMatches`` padded past ``counts``; inputs are made C-contiguous float32; a view index
segfaults on ``add`` in usearch 2.26, so writes to a view are refused here first; inserts run on one
thread (parallel inserts strand unreachable nodes, usearch#735); one lock per index.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
import math
import os
import shutil
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from usearch.index import Index

from unret.errors import IndexCorruptError, ManifestMismatchError, ReadOnlyIndexError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CATALOG = "catalog.sqlite"
VECTORS = "vectors.npy"
METRICS = ("cos", "ip")
DTYPES = ("f32", "f16", "bf16", "i8")
AUTO_DTYPE_ORDER = ("bf16", "f16")  # what dtype="auto" tries, fastest first (docs/performance.md § Index)
# Exact search scores at most this many query×vector similarities per matmul (~128 MiB of float32).
_EXACT_CHUNK = 32 * 1024 * 1024
# Filtered-search cost model, in units of one query×row pass of a batched matmul (~11 ns at dim 384),
# measured on one core with benchmarks/index_bench.py:
_HNSW_PER_FETCH = 50  # × connectivity, per query and fetched candidate (~1.1·connectivity random reads)
_EXACT_PER_ROW = 20  # per call and matching row: gathering and streaming its float32 vector once
_WHERE_PER_ITEM = 40_000  # ÷ dim, per call and item checked: one json.loads + compare (~1.1 µs)

Where = Mapping[str, Any] | Callable[[dict], bool]


@functools.cache
def fastest_dtype(metric: str = "cos") -> str:
    """The first of ``AUTO_DTYPE_ORDER`` that usearch runs with SIMD kernels on this CPU, else ``"f32"``.

    Without hardware kernels usearch falls back to scalar code ("serial"), which is slower than f32's.
    """
    for dtype in AUTO_DTYPE_ORDER:
        if getattr(Index(ndim=64, metric=metric, dtype=dtype), "hardware_acceleration", "serial") != "serial":
            return dtype
    return "f32"


@dataclass(frozen=True)
class Hit:
    """One search result; ``score`` is the similarity (cosine or inner product), higher is better."""

    id: str
    score: float
    modality: str
    metadata: dict


class VectorIndex:
    """Dense vectors with string ids, a modality and JSON metadata each; HNSW or exact search.

    Live catalog state is kept in numpy arrays and dicts (a search resolves hundreds of keys, and a
    dict/array lookup is ~100× cheaper than an SQL round trip); SQLite is the on-disk catalog.

    A float32 copy of every vector is kept next to the usearch graphs. It makes ``exact=True`` truly
    exact whatever the HNSW dtype, lets every hit be re-scored exactly (so scores are comparable across
    shards and dtypes, and f16/i8 candidates are re-ranked), and serves ``vectors()``. It costs 4·dim bytes
    per vector; ``load(view=True)`` memory-maps it instead of reading it into RAM.

    ``dtype`` is the HNSW graph's vector type only (hits are re-scored from the float32 copy either way).
    The default ``"auto"`` picks ``"bf16"`` where this CPU has SIMD kernels for it, else ``"f16"``, else
    ``"f32"``: on real embeddings bf16 searched 2.3× faster than f32 at the same recall@10 (0.9936 vs
    0.9946 at ef=256) and builds 2× faster. ``"i8"`` caps recall (~0.95 on real data) — see
    docs/performance.md.
    """

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
    ) -> None:
        for name, value in (("dim", dim), ("connectivity", connectivity), ("expansion_add", expansion_add),
                            ("expansion_search", expansion_search)):
            _check_positive_int(name, value)
        if shard_size is not None:
            _check_positive_int("shard_size", shard_size)
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
            json.dumps(model, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"model must be JSON-serialisable: {e}") from e
        self.dim, self.metric, self.dtype = dim, metric, dtype
        self.connectivity, self.expansion_add = connectivity, expansion_add
        self._expansion_search = expansion_search
        self.shard_size, self.model = shard_size, model
        self._lock = threading.Lock()
        self._read_only = False
        self._shards: list[Index] = [self._new_shard()]
        self._shard_first_key = [0]  # shard i holds keys in [first_key[i], first_key[i + 1])
        self._next_key = 0
        self._key_row = np.empty(0, np.int64)  # key -> row, -1 once removed
        # Row-aligned state (rows 0.._n-1 are live; removal moves the last row into the hole).
        self._n = 0
        self._vecs = np.empty((0, dim), np.float32)
        self._inv_norm = np.empty(0, np.float32)
        self._mod = np.empty(0, np.int32)
        self._row_key = np.empty(0, np.int64)
        self._ids: list[str] = []
        self._meta: list[str] = []  # JSON text: every hit gets a fresh dict, nobody aliases the catalog
        self._key_of_id: dict[str, int] = {}
        self._modality_names: list[str] = []
        self._modality_code: dict[str, int] = {}

    # ------------------------------------------------------------------ properties and lookups

    @property
    def expansion_search(self) -> int:
        """HNSW search beam width; a property because usearch forgets it on save and restore."""
        return self._expansion_search

    @expansion_search.setter
    def expansion_search(self, value: int) -> None:
        _check_positive_int("expansion_search", value)
        with self._lock:
            self._expansion_search = value
            for shard in self._shards:
                shard.expansion_search = value

    @property
    def read_only(self) -> bool:
        """True for an index loaded with ``view=True`` (memory-mapped): add and remove raise."""
        return self._read_only

    @property
    def num_shards(self) -> int:
        return len(self._shards)

    def __len__(self) -> int:
        return self._n

    def __contains__(self, id: object) -> bool:
        return id in self._key_of_id

    def ids(self) -> Iterator[str]:
        """Iterate over a snapshot of the ids, so concurrent writes cannot break the iteration."""
        with self._lock:
            snapshot = self._ids[: self._n]
        return iter(snapshot)

    def get(self, id: str) -> tuple[str, dict]:
        """Return ``(modality, metadata)`` for ``id``; KeyError if absent."""
        with self._lock:
            row = self._row_of(id)
            return self._modality_names[self._mod[row]], json.loads(self._meta[row])

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        """Return the stored float32 vectors of ``ids`` as a new ``(len(ids), dim)`` array."""
        ids = _as_id_list(ids)
        with self._lock:
            return np.asarray(self._vecs[np.array([self._row_of(i) for i in ids], np.int64)])

    def _row_of(self, id: str) -> int:
        if id not in self._key_of_id:
            raise KeyError(f"unknown id {id!r}")
        return int(self._key_row[self._key_of_id[id]])

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
        ids = _as_id_list(ids)
        n = len(ids)
        x = self._as_matrix(vectors, "vectors", labels=ids)
        if x.shape[0] != n:
            raise ValueError(f"got {n} ids but {x.shape[0]} vectors")
        mods = [modalities] * n if isinstance(modalities, str) else list(modalities)
        if len(mods) != n:
            raise ValueError(f"got {n} ids but {len(mods)} modalities")
        for id, m in zip(ids, mods, strict=True):
            if not isinstance(m, str) or not m:
                raise ValueError(f"modality of id {id!r} must be a non-empty string, got {m!r}")
        metas = [None] * n if metadata is None else list(metadata)
        if len(metas) != n:
            raise ValueError(f"got {n} ids but {len(metas)} metadata entries")
        meta_json = [_metadata_json(id, m) for id, m in zip(ids, metas, strict=True)]
        dupes = [i for i, c in Counter(ids).items() if c > 1]
        if dupes:
            raise ValueError(f"duplicate ids in one add call: {dupes[:5]!r}")
        norms = _norms(x)
        if self.metric == "cos" and not norms.all():
            zero = ids[int(np.argmin(norms))]
            raise ValueError(f"vector for id {zero!r} is zero; cosine needs a direction")

        with self._lock:
            self._remove_keys([self._key_of_id[i] for i in ids if i in self._key_of_id])
            keys = np.arange(self._next_key, self._next_key + n, dtype=np.uint64)
            self._next_key += n
            self._add_to_shards(keys, x)
            codes = [self._modality_code.setdefault(m, len(self._modality_code)) for m in mods]
            self._modality_names = list(self._modality_code)
            rows = np.arange(self._n, self._n + n)
            self._reserve(self._n + n)
            self._vecs[rows] = x
            self._inv_norm[rows] = 1.0 / norms
            self._mod[rows] = codes
            self._row_key[rows] = keys
            self._key_row = _grow(self._key_row, self._next_key, fill=-1)
            self._key_row[keys.astype(np.int64)] = rows
            self._ids.extend(ids)
            self._meta.extend(meta_json)
            self._key_of_id.update(zip(ids, keys.tolist(), strict=True))
            self._n += n

    def remove(self, ids: str | Iterable[str]) -> int:
        """Remove ids and return how many were removed; an unknown id raises KeyError and removes nothing."""
        self._check_writable()
        ids = list(dict.fromkeys([ids] if isinstance(ids, str) else ids))
        with self._lock:
            missing = [i for i in ids if i not in self._key_of_id]
            if missing:
                raise KeyError(f"unknown id(s), nothing removed: {missing[:5]!r}")
            self._remove_keys([self._key_of_id[i] for i in ids])
        return len(ids)

    def _check_writable(self) -> None:
        if self._read_only:
            raise ReadOnlyIndexError("this VectorIndex was loaded with view=True (memory-mapped, read-only); "
                               "load it with view=False to add or remove")

    def _new_shard(self) -> Index:
        return Index(ndim=self.dim, metric=self.metric, dtype=self.dtype, connectivity=self.connectivity,
                     expansion_add=self.expansion_add, expansion_search=self._expansion_search)

    def _add_to_shards(self, keys: np.ndarray, x: np.ndarray) -> None:
        """Fill the last shard up to ``shard_size`` and open new shards as needed."""
        start = 0
        while start < len(keys):
            room = len(keys) - start if self.shard_size is None else self.shard_size - len(self._shards[-1])
            if room <= 0:
                self._shards.append(self._new_shard())
                self._shard_first_key.append(int(keys[start]))
                continue
            # threads=1: concurrent usearch inserts can strand nodes that no search ever reaches
            # (unum-cloud/usearch#735, 2.26); measured here: ~0.3% of items unreachable with 2 threads.
            self._shards[-1].add(keys[start : start + room], x[start : start + room], threads=1)
            start += room

    def _remove_keys(self, keys: list[int]) -> None:
        for key in keys:
            self._shards[bisect.bisect_right(self._shard_first_key, key) - 1].remove(key)
            row, last = int(self._key_row[key]), self._n - 1
            moved = int(self._row_key[last])
            del self._key_of_id[self._ids[row]]
            for arr in (self._vecs, self._inv_norm, self._mod, self._row_key):
                arr[row] = arr[last]
            self._ids[row], self._meta[row] = self._ids[last], self._meta[last]
            self._ids.pop()
            self._meta.pop()
            self._key_row[moved], self._key_row[key] = row, -1
            self._n -= 1

    def _reserve(self, n: int) -> None:
        self._vecs = _grow(self._vecs, n)
        self._inv_norm = _grow(self._inv_norm, n)
        self._mod = _grow(self._mod, n)
        self._row_key = _grow(self._row_key, n)

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
        metadata has all the given key/value pairs, or for which ``where(metadata)`` is true. HNSW has no
        filtered search in Python usearch: candidates are over-fetched and post-filtered, doubling the
        fetch, and a selective filter switches to exact search over just the matching vectors.
        """
        q = self._as_matrix(queries, "queries", allow_1d=True)
        _check_positive_int("k", k)
        if modality is not None:
            modality = [modality] if isinstance(modality, str) else list(modality)
            if not all(isinstance(m, str) for m in modality):
                raise TypeError(f"modality must be a string or a collection of strings, got {modality!r}")
        if where is not None and not (callable(where) or isinstance(where, Mapping)):
            raise TypeError(f"where must be a dict or a callable(metadata) -> bool, not {type(where)}")
        if self.metric == "cos":
            norms = np.linalg.norm(q, axis=1, keepdims=True)
            if not norms.all():
                raise ValueError(f"query {int(np.argmin(norms))} is a zero vector; cosine needs a direction")
            q = q / norms

        with self._lock:
            accept = self._filter(modality, where)
            if self._n == 0:
                results = [(np.empty(0, np.int64), np.empty(0, np.float32))] * len(q)
            elif exact:
                rows = None if accept is None else np.flatnonzero(accept(np.arange(self._n)))
                results = self._exact(q, k, rows)
            elif accept is None:
                results = [self._rescore(qi, c, k) for qi, c in zip(q, self._candidates(q, k), strict=True)]
            else:
                matching = None if where is not None else np.flatnonzero(accept(np.arange(self._n)))
                results = self._filtered(q, k, accept, matching)
            return [
                [Hit(self._ids[r], float(s), self._modality_names[self._mod[r]], json.loads(self._meta[r]))
                 for r, s in zip(rows.tolist(), scores.tolist(), strict=True)]
                for rows, scores in results
            ]

    def _filter(self, modality: list[str] | None, where: Where | None) -> Callable | None:
        """Build ``accept(rows) -> bool mask``: modality codes vectorised, ``where`` per candidate."""
        if modality is None and where is None:
            return None
        allowed = None  # modality code -> allowed: a table lookup, ~10× faster than np.isin
        if modality is not None:
            allowed = np.zeros(len(self._modality_names) + 1, bool)
            allowed[[self._modality_code[m] for m in modality if m in self._modality_code]] = True

        def accept(rows: np.ndarray) -> np.ndarray:
            ok = np.ones(len(rows), bool) if allowed is None else allowed[self._mod[rows]]
            if where is not None:
                for j in np.flatnonzero(ok):
                    meta = json.loads(self._meta[rows[j]])
                    ok[j] = bool(where(meta)) if callable(where) else all(
                        key in meta and meta[key] == value for key, value in where.items())
            return ok

        return accept

    def _filtered(self, q: np.ndarray, k: int, accept: Callable, matching: np.ndarray | None) -> list:
        """Over-fetch and post-filter, doubling the fetch; exact over the matching rows once selective.

        Cost model (constants above): a filter passes m rows — known for a modality filter, else
        estimated as k·n/F for a query still short of k hits after fetching F candidates. Another HNSW
        round over P pending queries costs P·max(2F, expansion_search)·50·connectivity; the exact
        fallback costs m·(20 + P) — memory-bound for one query, matmul-bound for a batch — plus, for a
        ``where`` filter, one Python pass over all metadata. Doubling stops once a round would cost more
        than the fallback, so a hopeless over-fetch costs at most ~3× the fallback. A modality filter's
        ``matching`` rows are found up front (vectorised): it starts at F = 2·k·n/m (most queries done
        in one round) or goes straight to exact.
        """
        n = self._n
        per_fetch = _HNSW_PER_FETCH * self.connectivity
        scan = 0.0 if matching is not None else n * _WHERE_PER_ITEM / self.dim
        fetch = k if matching is None else math.ceil(2 * k * n / max(len(matching), 1))
        results: list = [None] * len(q)
        pending = list(range(len(q)))
        while pending and fetch < n:
            p, m = len(pending), k * n / fetch if matching is None else len(matching)
            if p * max(2 * fetch, self._expansion_search) * per_fetch >= scan + m * (_EXACT_PER_ROW + p):
                break
            still = []
            for i, cand in zip(pending, self._candidates(q[pending], fetch), strict=True):
                cand = cand[accept(cand)]
                if len(cand) >= k:
                    results[i] = self._rescore(q[i], cand, k)
                else:
                    still.append(i)
            pending, fetch = still, fetch * 2
        if pending:
            rows = matching if matching is not None else np.flatnonzero(accept(np.arange(n)))
            exact = self._exact(q[pending], k, rows)
            for i, res in zip(pending, exact, strict=True):
                results[i] = res
        return results

    def _candidates(self, q: np.ndarray, fetch: int) -> list[np.ndarray]:
        """HNSW candidate rows per query, merged over shards.

        The beam is at least 2·fetch: usearch searches with max(expansion_search, fetch), and a beam no
        wider than the list it returns leaves that list's tail inaccurate (filtered recall at 100k
        went from ~0.90 to ~0.96 with the slack). The merge is a concatenation: candidates are re-scored
        exactly in float32 afterwards, so usearch ``Indexes`` (which merges by the shards' own, possibly
        quantised, distances) adds nothing; it measured the same speed (docs/performance.md).
        """
        parts: list[list[np.ndarray]] = [[] for _ in q]
        for shard in self._shards:
            if len(shard) == 0:
                continue
            beam = max(self._expansion_search, 2 * fetch)
            if beam == self._expansion_search:  # the common case (k <= ef / 2): no setting round trip
                matches = shard.search(q, fetch)
            else:
                shard.expansion_search = beam
                try:
                    matches = shard.search(q, fetch)
                finally:
                    shard.expansion_search = self._expansion_search
            if len(q) == 1:  # usearch returns unpadded Matches for a single query
                parts[0].append(matches.keys)
            else:  # BatchMatches: rows are padded with key 0 past counts
                for p, keys, count in zip(parts, matches.keys, matches.counts, strict=True):
                    p.append(keys[:count])
        return [self._key_row[np.concatenate(p).astype(np.int64)] if p else np.empty(0, np.int64)
                for p in parts]

    def _scores(self, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        s = self._vecs[rows] @ q
        return s * self._inv_norm[rows] if self.metric == "cos" else s

    def _rescore(self, q: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        s = self._scores(q, rows)
        top = np.argsort(-s, kind="stable")[:k]
        return rows[top], s[top]

    def _exact(self, q: np.ndarray, k: int, rows: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Brute force with a torch matmul + topk over all live rows (or ``rows``).

        Chosen over usearch ``search(exact=True)``: that scores in the stored dtype (f16/i8 would not be
        exact) and was slower here than BLAS matmul + ``torch.topk`` at 100k vectors (see
        benchmarks/index_bench.py).
        """
        sel = slice(0, self._n) if rows is None else rows
        x = self._vecs[sel]
        if len(x) == 0:
            return [(np.empty(0, np.int64), np.empty(0, np.float32))] * len(q)
        xt, inv = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(self._inv_norm[sel])
        out = []
        step = max(1, _EXACT_CHUNK // len(x))
        for start in range(0, len(q), step):
            s = torch.from_numpy(q[start : start + step]) @ xt.T  # (chunk, m)
            if self.metric == "cos":
                s *= inv
            top = torch.topk(s, min(k, len(x)), dim=1)
            for vals, idx in zip(top.values.numpy(), top.indices.numpy(), strict=True):
                out.append((idx if rows is None else rows[idx], vals))
        return out

    def _as_matrix(self, x: Any, name: str, labels: Sequence[str] | None = None,
                   allow_1d: bool = False) -> np.ndarray:
        """Return ``x`` as a C-contiguous finite float32 ``(n, dim)`` array, or raise naming ``name``."""
        if isinstance(x, torch.Tensor):
            x = x.detach().to(device="cpu", dtype=torch.float32).numpy()
        try:
            x = np.ascontiguousarray(x, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{name} must be a numeric array or tensor: {e}") from e
        if allow_1d and x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2:
            shape = "(n, dim) or (dim,)" if allow_1d else "(n, dim)"
            raise ValueError(f"{name} must have shape {shape}, got shape {x.shape}")
        if x.shape[1] != self.dim:
            raise ValueError(f"{name} have the wrong dimension: expected {self.dim}, got {x.shape[1]}")
        bad = ~np.isfinite(x).all(axis=1)
        if bad.any():
            row = int(np.argmax(bad))
            what = f"id {labels[row]!r}" if labels is not None and row < len(labels) else f"row {row}"
            raise ValueError(f"{name}: {what} contains NaN or inf")
        return x

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to directory ``path`` atomically.

        Everything goes to a temp dir next to ``path`` and is fsynced; then the old dir is renamed aside,
        the new one renamed in, and the old one deleted. An exception at any step leaves the previous
        save at ``path`` (renamed back if needed). A crash between the two renames leaves the previous
        save complete at ``.<name>.old``, which ``load`` points to.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            with self._lock:
                shards = []
                for i, (shard, first_key) in enumerate(zip(self._shards, self._shard_first_key, strict=True)):
                    name = f"shard-{i:05d}.usearch"
                    shard.save(str(tmp / name))
                    shards.append({"file": name, "first_key": first_key, "count": len(shard)})
                np.save(tmp / VECTORS, self._vecs[: self._n])
                self._write_catalog(tmp / CATALOG)
                files = [s["file"] for s in shards] + [VECTORS, CATALOG]
                manifest = {
                    "format_version": FORMAT_VERSION, "model": self.model, "dim": self.dim,
                    "metric": self.metric, "dtype": self.dtype, "connectivity": self.connectivity,
                    "expansion_add": self.expansion_add, "expansion_search": self._expansion_search,
                    "shard_size": self.shard_size, "count": self._n, "next_key": self._next_key,
                    "shards": shards,
                    "files": {f: {"bytes": (tmp / f).stat().st_size, "sha256": _sha256(tmp / f)}
                              for f in files},
                }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
            for f in [*files, MANIFEST]:
                _fsync(tmp / f)
            _fsync(tmp)
            _swap_in(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _write_catalog(self, file: Path) -> None:
        con = sqlite3.connect(file)
        try:
            con.execute("CREATE TABLE items (row INTEGER PRIMARY KEY, key INTEGER NOT NULL UNIQUE, "
                        "id TEXT NOT NULL UNIQUE, modality TEXT NOT NULL, metadata TEXT NOT NULL)")
            con.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?)", (
                (r, int(self._row_key[r]), self._ids[r], self._modality_names[self._mod[r]], self._meta[r])
                for r in range(self._n)))
            con.commit()
        finally:
            con.close()

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        view: bool = False,
        expected_model: dict | None = None,
        expected_dim: int | None = None,
    ) -> VectorIndex:
        """Load a saved index, verifying its manifest, file sizes and checksums.

        ``view=True`` memory-maps the HNSW graphs and vectors for read-only serving. ``expected_dim`` and
        ``expected_model`` refuse an index built for another encoder (ManifestMismatchError); damaged
        files raise IndexCorruptError naming the file.
        """
        path = Path(path)
        m = _read_manifest(path)
        if expected_dim is not None and m["dim"] != expected_dim:
            raise ManifestMismatchError(f"index at {path} has dim {m['dim']}, expected dim {expected_dim}")
        if expected_model is not None and m["model"] != expected_model:
            raise ManifestMismatchError(
                f"index at {path} was built with model {m['model']!r}, expected model {expected_model!r}")
        for name, info in m["files"].items():
            _verify_file(path / name, info)

        self = cls(m["dim"], m["metric"], m["dtype"], m["connectivity"], m["expansion_add"],
                   m["expansion_search"], m["shard_size"], m["model"])
        self._shards = []
        for s in m["shards"]:
            shard = Index.restore(str(path / s["file"]), view=view)
            if shard is None or len(shard) != s["count"] or shard.ndim != self.dim:
                raise IndexCorruptError(f"{path / s['file']} does not hold the {s['count']} vectors of "
                                        f"dim {self.dim} the manifest lists")
            shard.expansion_search = self._expansion_search  # not persisted by usearch
            self._shards.append(shard)
        self._shard_first_key = [s["first_key"] for s in m["shards"]]
        # mmap_mode="c" (copy-on-write) rather than "r": torch.from_numpy needs a writable array.
        vecs = np.load(path / VECTORS, mmap_mode="c" if view else None)
        con = sqlite3.connect(f"{(path / CATALOG).resolve().as_uri()}?mode=ro", uri=True)
        try:
            items = con.execute("SELECT key, id, modality, metadata FROM items ORDER BY row").fetchall()
        finally:
            con.close()
        if not (len(items) == len(vecs) == m["count"] == sum(s["count"] for s in m["shards"])):
            raise IndexCorruptError(f"{path}: manifest count {m['count']}, {len(items)} catalog rows and "
                                    f"{len(vecs)} vectors disagree")
        keys = np.array([it[0] for it in items], np.int64)
        self._n, self._next_key = len(items), m["next_key"]
        self._vecs = vecs
        self._inv_norm = 1.0 / _norms(vecs)
        self._row_key = keys
        self._key_row = np.full(self._next_key, -1, np.int64)
        self._key_row[keys] = np.arange(self._n)
        self._ids = [it[1] for it in items]
        self._meta = [it[3] for it in items]
        self._key_of_id = dict(zip(self._ids, keys.tolist(), strict=True))
        codes = self._modality_code
        self._mod = np.array([codes.setdefault(it[2], len(codes)) for it in items], np.int32)
        self._modality_names = list(self._modality_code)
        self._read_only = view
        return self


# ---------------------------------------------------------------------- helpers


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _as_id_list(ids: Any) -> list[str]:
    if isinstance(ids, str):
        raise TypeError(f"ids must be a sequence of strings, not a single string ({ids!r})")
    ids = list(ids)
    for i in ids:
        if not isinstance(i, str) or not i:
            raise ValueError(f"every id must be a non-empty string, got {i!r}")
    return ids


def _metadata_json(id: str, meta: Mapping[str, Any] | None) -> str:
    if meta is None:
        return "{}"
    if not isinstance(meta, Mapping):
        raise TypeError(f"metadata of id {id!r} must be a dict or None, got {type(meta).__name__}")
    try:
        return json.dumps(dict(meta), allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"metadata of id {id!r} is not JSON-serialisable: {e}") from e


def _grow(arr: np.ndarray, n: int, fill: int | None = None) -> np.ndarray:
    """Return ``arr`` with room for ``n`` rows, doubling the capacity so appends stay amortised O(1)."""
    if len(arr) >= n:
        return arr
    out = np.empty((max(n, 2 * len(arr)), *arr.shape[1:]), arr.dtype)
    out[: len(arr)] = arr
    if fill is not None:
        out[len(arr) :] = fill
    return out


def _norms(x: np.ndarray) -> np.ndarray:
    """Row L2 norms without the (n, dim) temporary ``np.linalg.norm`` allocates."""
    return np.sqrt(np.einsum("ij,ij->i", x, x))


def _sha256(file: Path) -> str:
    h = hashlib.sha256()
    with open(file, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _backup_of(path: Path) -> Path:
    return path.parent / f".{path.name}.old"


def _swap_in(tmp: Path, path: Path) -> None:
    """Replace directory ``path`` by the complete directory ``tmp`` with renames, keeping the old one
    until the new one is in place."""
    backup = _backup_of(path)
    if path.exists():
        if backup.exists():  # left by an interrupted save; ``path`` itself is complete
            shutil.rmtree(backup)
        os.replace(path, backup)
    try:
        os.replace(tmp, path)
    except BaseException:
        if backup.exists() and not path.exists():
            os.replace(backup, path)
        raise
    _fsync(path.parent)
    shutil.rmtree(backup, ignore_errors=True)


def _read_manifest(path: Path) -> dict:
    file = path / MANIFEST
    if not file.exists():
        hint = f"; an interrupted save left the previous index at {_backup_of(path)}" \
            if (_backup_of(path) / MANIFEST).exists() else ""
        raise IndexCorruptError(f"no saved index at {path}: {file} is missing{hint}")
    try:
        m = json.loads(file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise IndexCorruptError(f"{file} is not valid JSON: {e}") from e
    if not isinstance(m, dict) or m.get("format_version") != FORMAT_VERSION:
        version = m.get("format_version") if isinstance(m, dict) else None
        raise IndexCorruptError(f"{file}: unsupported format_version {version!r} (expected {FORMAT_VERSION})")
    return m


def _verify_file(file: Path, info: dict) -> None:
    if not file.exists():
        raise IndexCorruptError(f"{file} is missing (listed in the manifest)")
    size = file.stat().st_size
    if size != info["bytes"]:
        raise IndexCorruptError(f"{file} is truncated or altered: {size} bytes, expected {info['bytes']}")
    if _sha256(file) != info["sha256"]:
        raise IndexCorruptError(f"{file} is corrupt: sha256 does not match the manifest")
