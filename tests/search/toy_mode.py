"""A complete new search mode in one file and one registration: ``farthest`` lists the *least* similar
documents first (dense search with the query vector negated). `test_registry.py` checks that the library,
the server, ``unret search`` and ``unret evaluate`` all offer it."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from unret.index import Hit, Where
from unret.search import QueryBatch, Retriever, SearchContext, register_mode
from unret.search.dense import build_dense


class FarthestRetriever(Retriever):
    mode = "farthest"

    def __init__(self, context: SearchContext):
        self.dense = build_dense(context)

    def prepare(self, queries: Sequence[Any]) -> QueryBatch:
        return self.dense.prepare(queries)

    def search_prepared(self, batch: QueryBatch, k: int = 10, modality: str | Collection[str] | None = None,
                        where: Where | None = None) -> list[list[Hit]]:
        flipped = QueryBatch(batch.texts, -batch.vectors, batch.items)
        return self.dense.search_prepared(flipped, k=k, modality=modality, where=where)


register_mode("farthest", lambda context, **_: FarthestRetriever(context), "least similar first",
              needs=("vectors",))
