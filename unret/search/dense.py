"""Dense retrieval: the model encodes the queries, a vector store ranks by cosine."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Protocol

import numpy as np

from unret.index import Hit, Where
from unret.search.base import QueryBatch, Retriever, query_batch
from unret.search.registry import SearchContext, register_mode


class VectorStore(Protocol):
    """What dense search needs from an index (`VectorIndex` has it; ``evaluate`` adapts plain matrices)."""

    def search(self, queries: np.ndarray, k: int = 10, modality: str | Collection[str] | None = None,
               where: Where | None = None, exact: bool = False) -> list[list[Hit]]: ...


class QueryEncoder(Protocol):
    def encode_queries(self, inputs: Any, **kwargs: Any) -> Any: ...


class DenseRetriever(Retriever):
    """``encoder.encode_queries`` + ``store.search``; ``encode_kwargs`` (``task``, ``batch_size``…) go to the
    encoder, ``exact=True`` searches by brute force."""

    mode = "dense"

    def __init__(self, encoder: QueryEncoder, store: VectorStore, exact: bool = False, **encode_kwargs: Any):
        self.encoder, self.store, self.exact = encoder, store, exact
        self.encode_kwargs = encode_kwargs

    def prepare(self, queries: Sequence[Any]) -> QueryBatch:
        batch = query_batch(queries)
        vectors = self.encoder.encode_queries(list(queries), convert_to="numpy", **self.encode_kwargs)
        batch.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        return batch

    def search_prepared(self, batch: QueryBatch, k: int = 10, modality: str | Collection[str] | None = None,
                        where: Where | None = None) -> list[list[Hit]]:
        if batch.vectors is None:
            raise ValueError("dense search needs query vectors: prepare() the batch with a dense retriever")
        if len(batch) == 0:
            return []
        return self.store.search(batch.vectors, k=k, modality=modality, where=where, exact=self.exact)


def build_dense(context: SearchContext, **_: Any) -> DenseRetriever:
    """The ``dense`` mode over a context: its encoder, vector store, ``exact`` and query-encoding settings."""
    return DenseRetriever(context.encoder, context.vectors, exact=context.exact, **context.encode_kwargs)


register_mode("dense", build_dense, "cosine similarity of the model's vectors", needs=("vectors",))
