"""The rerank stage: a first-stage retriever's top ``depth`` re-scored by a cross-encoder.

``mode="hybrid+rerank"`` (or ``rerank=`` on search) ranks with the first stage, filters included, then reads
each candidate again — its indexed text (``context.text_of``) and, for an image, the file it was indexed
from (``metadata["source"]``) — and lets the reranker score every (query, candidate) pair, batched. Hits are
returned by reranker score. Candidates the reranker cannot read (an image for a text cross-encoder, an image
whose file is gone) follow the scored ones in first-stage order, each scored just below the lowest reranked
score; a query it cannot read keeps its first-stage ranking.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from unret.index import Hit, Where
from unret.items import Item, to_item
from unret.search.base import QueryBatch, Retriever

DEFAULT_DEPTH = 100


class RerankRetriever(Retriever):
    """``first`` then ``reranker`` over its top ``depth`` (at least ``k``) candidates per query."""

    def __init__(self, first: Retriever, reranker: Any, context: Any, depth: int = DEFAULT_DEPTH,
                 batch_size: int | None = None):
        from unret.rerank import load_reranker

        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"rerank_depth must be a positive integer, got {depth!r}")
        self.first, self.reranker, self.context = first, load_reranker(reranker), context
        self.depth, self.batch_size = depth, batch_size
        self.mode = f"{first.mode}+rerank"

    def prepare(self, queries: Sequence[Any]) -> QueryBatch:
        return self.first.prepare(queries)

    def search_prepared(self, batch: QueryBatch, k: int = 10, modality: str | Collection[str] | None = None,
                        where: Where | None = None) -> list[list[Hit]]:
        candidates = self.first.search_prepared(batch, k=max(k, self.depth), modality=modality, where=where)
        if batch.items is None:
            raise ValueError("reranking needs the query items: prepare() the batch with a retriever of unret.search")
        pairs: list[tuple[int, int]] = []  # (query row, candidate position) of every pair the model reads
        queries, documents = [], []
        for row, (query, hits) in enumerate(zip(batch.items, candidates, strict=True)):
            if not self.reranker.accepts(query):
                continue
            for position, hit in enumerate(hits):
                doc = self.document(hit)
                if doc is not None and self.reranker.accepts(doc):
                    pairs.append((row, position))
                    queries.append(query)
                    documents.append(doc)
        scores = self.reranker.score_pairs(queries, documents, batch_size=self.batch_size) if pairs else []
        scored: list[dict[int, float]] = [{} for _ in candidates]
        for (row, position), score in zip(pairs, scores, strict=True):
            scored[row][position] = float(score)
        return [_reorder(hits, found)[:k] for hits, found in zip(candidates, scored, strict=True)]

    def document(self, hit: Hit) -> Item | None:
        """The candidate as the reranker reads it: indexed text, plus the image file for an image (None when
        the image file is gone)."""
        text = self.context.text_of(hit.id) if self.context.text_of is not None else None
        if hit.modality in ("image", "image+text"):
            metadata = hit.metadata
            if "source" not in metadata and self.context.catalog_get is not None:
                metadata = self.context.catalog_get(hit.id)[1]
            source = metadata.get("source")
            if not isinstance(source, str) or not Path(source).is_file():
                return None
            return to_item((Path(source), text)) if text else to_item(Path(source))
        return Item(hit.modality, text=text or "", language=hit.metadata.get("language"))


def _reorder(hits: list[Hit], scores: dict[int, float]) -> list[Hit]:
    if not scores:
        return hits  # the query (or every candidate) was unreadable: the first stage's ranking stands
    ranked = sorted(scores, key=lambda p: (-scores[p], p))
    out = [Hit(hits[p].id, scores[p], hits[p].modality, hits[p].metadata) for p in ranked]
    floor = min(scores.values())
    unread = [p for p in range(len(hits)) if p not in scores]
    out += [Hit(hits[p].id, floor - 1.0 - i, hits[p].modality, hits[p].metadata) for i, p in enumerate(unread)]
    return out
