"""Exact similarity: the one brute-force top-k of unret (index, evaluation and mining all call it).

Brute force is a BLAS matmul + ``torch.topk`` in float32, chunked over queries so the score block stays
around 128 MiB. Chosen over usearch ``search(exact=True)``: that scores in the graph's stored dtype (f16/i8
would not be exact) and was slower at 100k vectors (benchmarks/index_bench.py).
"""

from __future__ import annotations

import numpy as np

# Exact search scores at most this many query×vector similarities per matmul (~128 MiB of float32).
EXACT_CHUNK = 32 * 1024 * 1024


def row_norms(x: np.ndarray) -> np.ndarray:
    """Row L2 norms, accumulated in float64: float32 squares overflow past ~1e19 and underflow below ~1e-23."""
    return np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))


def topk(
    queries: np.ndarray,
    matrix: np.ndarray,
    k: int,
    scale: np.ndarray | None = None,
    budget: int = EXACT_CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` rows of ``matrix`` by inner product with each query, best first.

    ``scale`` multiplies each row's score (``1 / norm`` turns inner product into cosine without
    normalising a copy of ``matrix``). Returns ``(rows, scores)``, both ``(len(queries), min(k, len(matrix)))``.
    """
    m = len(matrix)
    k = min(k, m)
    if k == 0 or len(queries) == 0:
        return np.empty((len(queries), 0), np.int64), np.empty((len(queries), 0), np.float32)
    import torch  # here, not at the top: loading and serving an index needs no torch

    x = torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float32))
    inv = None if scale is None else torch.from_numpy(np.ascontiguousarray(scale, dtype=np.float32))
    rows = np.empty((len(queries), k), np.int64)
    scores = np.empty((len(queries), k), np.float32)
    step = max(1, budget // m)
    for start in range(0, len(queries), step):
        q = torch.from_numpy(np.ascontiguousarray(queries[start : start + step], dtype=np.float32))
        s = q @ x.T  # (chunk, m)
        if inv is not None:
            s *= inv
        top = torch.topk(s, k, dim=1)
        rows[start : start + step] = top.indices.numpy()
        scores[start : start + step] = top.values.numpy()
    return rows, scores


class ExactStore:
    """The float32 copy of every live vector, row-aligned with the catalog, and its exact scoring.

    It makes ``exact=True`` truly exact whatever the ANN graph's dtype, re-scores every candidate (so scores
    are comparable across shards and dtypes, and quantised candidates are re-ranked) and serves
    ``vectors()``. Rows ``0..n-1`` are live; removal moves the last row into the hole.
    """

    def __init__(self, dim: int, metric: str) -> None:
        self.metric = metric
        self.vecs = np.empty((0, dim), np.float32)
        self.inv_norm = np.empty(0, np.float32)

    def reserve(self, n: int) -> None:
        self.vecs = grow(self.vecs, n)
        self.inv_norm = grow(self.inv_norm, n)

    def set_rows(self, rows: np.ndarray, x: np.ndarray, norms: np.ndarray) -> None:
        self.vecs[rows] = x
        self.inv_norm[rows] = 1.0 / norms

    def move(self, src: int, dst: int) -> None:
        self.vecs[dst] = self.vecs[src]
        self.inv_norm[dst] = self.inv_norm[src]

    def attach(self, vecs: np.ndarray) -> None:
        """Adopt loaded vectors (possibly memory-mapped) as rows ``0..len-1``."""
        self.vecs = vecs
        self.inv_norm = (1.0 / row_norms(vecs)).astype(np.float32)

    def scores(self, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        s = self.vecs[rows] @ q
        return s * self.inv_norm[rows] if self.metric == "cos" else s

    def rescore(self, q: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The best ``k`` of candidate ``rows`` for one query, by exact float32 score."""
        s = self.scores(q, rows)
        top = np.argsort(-s, kind="stable")[:k]
        return rows[top], s[top]

    def search(self, q: np.ndarray, k: int, n: int, rows: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Brute-force top-``k`` over live rows ``0..n-1`` (or just ``rows``), one (rows, scores) per query."""
        sel = slice(0, n) if rows is None else rows
        scale = self.inv_norm[sel] if self.metric == "cos" else None
        idx, scores = topk(q, self.vecs[sel], k, scale)
        if rows is not None:
            idx = rows[idx]
        return list(zip(idx, scores, strict=True))


def grow(arr: np.ndarray, n: int, fill: int | None = None) -> np.ndarray:
    """Return ``arr`` with room for ``n`` rows, doubling the capacity so appends stay amortised O(1)."""
    if len(arr) >= n:
        return arr
    out = np.empty((max(n, 2 * len(arr)), *arr.shape[1:]), arr.dtype)
    out[: len(arr)] = arr
    if fill is not None:
        out[len(arr) :] = fill
    return out
