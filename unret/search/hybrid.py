"""Hybrid retrieval: fuse the dense and lexical rankings of the same query.

Two fusions, both over the top ``depth`` of each ranking (default ``max(2k, 50)``):

* ``"rrf"`` (default), reciprocal rank fusion (Cormack et al., 2009): ``Σ w / (rrf_k + rank)`` with
  ``rrf_k = 60`` and equal weights. It needs no score calibration, which is why it is the default: BM25
  scores are unbounded and vary by query, cosines do not.
* ``"convex"``: ``alpha · dense + (1 − alpha) · lexical`` on scores min-max normalised per query over each
  list (a document missing from a list scores 0 there); ``alpha = 0.5`` by default. Tuned on a
  validation set it often beats RRF (Bruch et al., 2023), untuned it is the riskier choice.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from unret.index import Hit, Where
from unret.search.base import QueryBatch, Retriever
from unret.search.dense import DenseRetriever, build_dense
from unret.search.lexical import LexicalRetriever, build_lexical
from unret.search.registry import SearchContext, register_mode

FUSIONS: tuple[str, ...] = ("rrf", "convex")
RRF_K = 60
ALPHA = 0.5


def rrf(rankings: Sequence[Sequence[str]], weights: Sequence[float] | None = None,
        rrf_k: int = RRF_K) -> dict[str, float]:
    """Reciprocal rank fusion of id rankings (best first; rank 1 is the first): ``{id: fused score}``."""
    weights = [1.0] * len(rankings) if weights is None else list(weights)
    fused: dict[str, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        for rank, doc_id in enumerate(ranking, 1):
            fused[doc_id] = fused.get(doc_id, 0.0) + w / (rrf_k + rank)
    return fused


def convex(scored: Sequence[Sequence[tuple[str, float]]], weights: Sequence[float]) -> dict[str, float]:
    """``Σ w_i · minmax_i(score)`` over lists of ``(id, score)``; a list with one score maps it to 1."""
    fused: dict[str, float] = {}
    for pairs, w in zip(scored, weights, strict=True):
        if not pairs:
            continue
        values = [s for _, s in pairs]
        lo, hi = min(values), max(values)
        for doc_id, s in pairs:
            norm = (s - lo) / (hi - lo) if hi > lo else 1.0
            fused[doc_id] = fused.get(doc_id, 0.0) + w * norm
    return fused


class HybridRetriever(Retriever):
    """Dense and lexical retrievers over the same documents, fused by ``fusion`` (see the module docs)."""

    mode = "hybrid"

    def __init__(self, dense: DenseRetriever, lexical: LexicalRetriever, fusion: str = "rrf",
                 alpha: float = ALPHA, rrf_k: int = RRF_K, depth: int | None = None):
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
        if depth is not None and depth < 1:
            raise ValueError(f"depth must be a positive integer, got {depth!r}")
        self.dense, self.lexical = dense, lexical
        self.fusion, self.alpha, self.rrf_k, self.depth = fusion, alpha, rrf_k, depth

    def prepare(self, queries: Sequence[Any]) -> QueryBatch:
        return self.dense.prepare(queries)  # vectors and texts

    def search_prepared(self, batch: QueryBatch, k: int = 10, modality: str | Collection[str] | None = None,
                        where: Where | None = None) -> list[list[Hit]]:
        depth = self.depth or max(2 * k, 50)
        dense = self.dense.search_prepared(batch, k=depth, modality=modality, where=where)
        lexical = self.lexical.search_prepared(batch, k=depth, modality=modality, where=where)
        out = []
        for d_hits, l_hits in zip(dense, lexical, strict=True):
            if self.fusion == "rrf":
                fused = rrf([[h.id for h in d_hits], [h.id for h in l_hits]], rrf_k=self.rrf_k)
            else:
                fused = convex([[(h.id, h.score) for h in d_hits], [(h.id, h.score) for h in l_hits]],
                               [self.alpha, 1.0 - self.alpha])
            by_id = {h.id: h for h in l_hits} | {h.id: h for h in d_hits}
            top = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
            out.append([Hit(i, s, by_id[i].modality, by_id[i].metadata) for i, s in top])
        return out


def build_hybrid(context: SearchContext, fusion: str = "rrf", alpha: float = ALPHA, **_: Any) -> HybridRetriever:
    """The ``hybrid`` mode over a context: its dense and lexical modes fused by ``fusion`` / ``alpha``."""
    return HybridRetriever(build_dense(context), build_lexical(context), fusion=fusion, alpha=alpha)


register_mode("hybrid", build_hybrid, "dense and BM25 rankings fused (rrf, or convex with alpha)",
              needs=("vectors", "lexical"))
