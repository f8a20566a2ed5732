"""Top-``k`` over a Milvus collection when a Python check must follow the engine's filter.

The engine applies the pushed-down expression (``milvus_filter``), a superset of the matching items; a
``where`` dict's typed equality or a ``where`` callable then runs here on each returned hit. When that
drops hits, the query is asked again for 4× as many (Milvus caps one search at ``MAX_TOPK``), and past
the cap every item passing the expression is scored here exactly — so a hit is never wrong and never
missing, only slower to find.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from unret.index.exact import row_norms, topk

if TYPE_CHECKING:
    from unret.store.milvus import MilvusStore

MAX_TOPK = 16384  # Milvus's largest limit per search
RESULTS_PER_CALL = 65536  # queries × limit per search call, bounding one reply's size

Row = dict[str, Any]  # id, modality, metadata
Accept = Callable[[Any], bool]


def search_rows(store: MilvusStore, q: np.ndarray, k: int, expr: str, accept: Accept | None,
                exhaustive: bool) -> list[list[tuple[Row, float]]]:
    """Per (unit) query row, the best ``k`` ``(row, cosine)`` passing ``expr`` and ``accept``."""
    if exhaustive or k > MAX_TOPK:
        return scan(store, q, k, expr, accept)
    results: list[list[tuple[Row, float]] | None] = [None] * len(q)
    pending, fetch = list(range(len(q))), k
    while pending:
        still = []
        for i, hits in zip(pending, engine_search(store, q[pending], fetch, expr), strict=True):
            kept = hits if accept is None else [(r, s) for r, s in hits if accept(r["metadata"])]
            if len(kept) >= k or len(hits) < fetch:  # enough, or every item passing the expression seen
                results[i] = kept[:k]
            else:
                still.append(i)
        if still and fetch >= MAX_TOPK:
            for i, hits in zip(still, scan(store, q[still], k, expr, accept), strict=True):
                results[i] = hits
            break
        pending, fetch = still, min(fetch * 4, MAX_TOPK)
    return results  # type: ignore[return-value]


def engine_search(store: MilvusStore, q: np.ndarray, limit: int, expr: str) -> list[list[tuple[Row, float]]]:
    """Milvus's own top-``limit`` per query under ``expr``, in calls of bounded reply size."""
    params = {"params": {"ef": max(limit, 64)}} if store.index_type == "HNSW" else {}
    out: list[list[tuple[Row, float]]] = []
    step = max(1, RESULTS_PER_CALL // limit)
    for start in range(0, len(q), step):
        reply = store.client.search(store.target.collection, data=q[start:start + step].tolist(), limit=limit,
                                    filter=expr, output_fields=["modality", "metadata"], search_params=params)
        out += [[({"id": h["id"], **h["entity"]}, float(h["distance"])) for h in hits] for hits in reply]
    return out


def scan(store: MilvusStore, q: np.ndarray, k: int, expr: str, accept: Accept | None) -> list[list[tuple[Row, float]]]:
    """Exact top-``k`` here, over every item passing ``expr`` and ``accept`` (read page by page)."""
    rows: list[Row] = []
    vecs: list[list[float]] = []
    for page in store.pages(expr, ["vector", "modality", "metadata"]):
        for r in page:
            if accept is None or accept(r["metadata"]):
                vecs.append(r.pop("vector"))
                rows.append(r)
    if not rows:
        return [[] for _ in q]
    x = np.asarray(vecs, np.float32).reshape(len(rows), store.dim)
    idx, scores = topk(q, x, min(k, len(rows)), (1.0 / row_norms(x)).astype(np.float32))
    return [[(rows[j], float(s)) for j, s in zip(ix.tolist(), sc.tolist(), strict=True)]
            for ix, sc in zip(idx, scores, strict=True)]
