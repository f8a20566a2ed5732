"""The retriever interface: dense, lexical and hybrid search behind one ``prepare`` / ``search`` pair.

`UnifiedRetriever.search`, ``evaluate`` and the HTTP server all rank through a `Retriever`, so a new way
of ranking is one class plus one `unret.search.registry.register_mode` call that every caller picks up by
name.

Search is split in two steps because they need different resources: ``prepare`` turns queries into
what the retriever reads (query vectors from the model, query texts for BM25) and ``search_prepared``
ranks against the index. A server runs many ``search_prepared`` calls at once under a read lock while the
model encodes one batch at a time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from unret.index import Hit, Where


@dataclass
class QueryBatch:
    """Prepared queries: their texts (images contribute none), for dense ranking their vectors, and the
    query items themselves (images too) for a stage that reads the queries again, such as a reranker."""

    texts: list[str]
    vectors: np.ndarray | None = None
    items: list[Any] | None = None

    def __len__(self) -> int:
        return len(self.texts)


class Retriever(ABC):
    """Ranks indexed documents for queries. Subclasses set ``mode`` and implement the two steps."""

    mode: str = ""

    @abstractmethod
    def prepare(self, queries: Sequence[Any]) -> QueryBatch:
        """Turn ``Item``s (or anything ``unret.items.to_items`` accepts) into a `QueryBatch`."""

    @abstractmethod
    def search_prepared(self, batch: QueryBatch, k: int = 10, modality: str | Collection[str] | None = None,
                        where: Where | None = None) -> list[list[Hit]]:
        """Top-``k`` hits per prepared query, best first; ``modality`` / ``where`` filter like `VectorIndex`."""

    def search(self, queries: Sequence[Any], k: int = 10, modality: str | Collection[str] | None = None,
               where: Where | None = None) -> list[list[Hit]]:
        """``prepare`` then ``search_prepared``: one list of hits per query."""
        return self.search_prepared(self.prepare(queries), k=k, modality=modality, where=where)


def query_texts(queries: Sequence[Any]) -> list[str]:
    """The text of each query for lexical matching (an image query has none)."""
    return query_batch(queries).texts


def query_batch(queries: Sequence[Any], vectors: np.ndarray | None = None) -> QueryBatch:
    """A `QueryBatch` of ``queries`` (anything ``to_items`` reads), keeping the items for later stages."""
    from unret.items import to_items

    items, _ = to_items(list(queries))
    return QueryBatch([item.text or "" for item in items], vectors, items)


def check_mode(mode: str) -> str:
    """``mode`` if it names a registered search mode (``+rerank`` allowed), else a ValueError listing them."""
    from unret.search.registry import check_mode as check

    return check(mode)


def __getattr__(name: str) -> Any:
    if name == "MODES":  # derived from the registry, so a mode registered later is listed too
        from unret.search.registry import modes

        return modes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
