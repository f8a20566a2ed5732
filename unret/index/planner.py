"""Filters (modality, ``where``) and the over-fetch planner for filtered ANN search.

HNSW has no filtered search in Python usearch: candidates are over-fetched and post-filtered, doubling the
fetch, and a selective filter switches to exact search over just the matching vectors.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from unret.index.types import Where

if TYPE_CHECKING:
    from unret.index.catalog import Catalog
    from unret.index.vector_index import VectorIndex

# Filtered-search cost model, in units of one query×row pass of a batched matmul (~11 ns at dim 384),
# measured on one core with benchmarks/index_bench.py:
_HNSW_PER_FETCH = 50  # × connectivity, per query and fetched candidate (~1.1·connectivity random reads)
_EXACT_PER_ROW = 20  # per call and matching row: gathering and streaming its float32 vector once
_WHERE_PER_ITEM = 40_000  # ÷ dim, per call and item checked: one json.loads + compare (~1.1 µs)

Accept = Callable[[np.ndarray], np.ndarray]


def make_filter(catalog: Catalog, modality: list[str] | None, where: Where | None) -> Accept | None:
    """Build ``accept(rows) -> bool mask``: modality codes vectorised, ``where`` per candidate."""
    if modality is None and where is None:
        return None
    allowed = None  # modality code -> allowed: a table lookup, ~10× faster than np.isin
    if modality is not None:
        allowed = np.zeros(len(catalog.modality_names) + 1, bool)
        allowed[[catalog.modality_code[m] for m in modality if m in catalog.modality_code]] = True

    def accept(rows: np.ndarray) -> np.ndarray:
        ok = np.ones(len(rows), bool) if allowed is None else allowed[catalog.mod[rows]]
        if where is not None:
            for j in np.flatnonzero(ok):
                meta = json.loads(catalog.meta[rows[j]])
                ok[j] = bool(where(meta)) if callable(where) else matches(meta, where)
        return ok

    return accept


def accepts(catalog: Catalog, ids: list[str], modality: list[str] | None, where: Where | None) -> np.ndarray:
    """A bool per id: indexed, and passing the same filter as search (``make_filter``), in one pass."""
    known = np.array([i in catalog.key_of_id for i in ids], bool)
    rows = np.array([catalog.key_row[catalog.key_of_id[i]] if ok else 0 for i, ok in zip(ids, known, strict=True)],
                    np.int64)
    accept = make_filter(catalog, modality, where)
    if accept is not None and known.any():
        known[known] = accept(rows[known])
    return known


def modality_counts(catalog: Catalog) -> dict[str, int]:
    """Items per modality, counted over the catalog's modality codes (no metadata parsed)."""
    counts = np.bincount(catalog.mod[: catalog.n], minlength=len(catalog.modality_names))
    return {name: int(c) for name, c in zip(catalog.modality_names, counts, strict=False) if c}


def matches(meta: dict, where: Mapping) -> bool:
    """True when ``meta`` has every key of ``where`` with an equal value of the same JSON type."""
    return all(key in meta and same(meta[key], value) for key, value in where.items())


def same(a: object, b: object) -> bool:
    """JSON equality with types: ``True`` is not ``1`` and ``"1"`` is not ``1`` (Python's ``==`` says
    ``True == 1``); ``1 == 1.0`` (JSON has one number type); lists and tuples compare element-wise."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def filtered_search(index: VectorIndex, q: np.ndarray, k: int, accept: Accept,
                    matching: np.ndarray | None) -> list:
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
    n = len(index)
    per_fetch = _HNSW_PER_FETCH * index.connectivity
    scan = 0.0 if matching is not None else n * _WHERE_PER_ITEM / index.dim
    fetch = k if matching is None else math.ceil(2 * k * n / max(len(matching), 1))
    results: list = [None] * len(q)
    pending = list(range(len(q)))
    while pending and fetch < n:
        p, m = len(pending), k * n / fetch if matching is None else len(matching)
        if p * max(2 * fetch, index.expansion_search) * per_fetch >= scan + m * (_EXACT_PER_ROW + p):
            break
        still = []
        for i, cand in zip(pending, index._candidates(q[pending], fetch), strict=True):
            cand = cand[accept(cand)]
            if len(cand) >= k:
                results[i] = index._store.rescore(q[i], cand, k)
            else:
                still.append(i)
        pending, fetch = still, fetch * 2
    if pending:
        rows = matching if matching is not None else np.flatnonzero(accept(np.arange(n)))
        exact = index._store.search(q[pending], k, n, rows)
        for i, res in zip(pending, exact, strict=True):
            results[i] = res
    return results
