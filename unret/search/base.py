"""The retriever interface: dense, lexical and hybrid search behind one ``prepare`` / ``search`` pair.

`UnifiedRetriever.search`, ``evaluate`` and the HTTP server all rank through a `Retriever`, so a new way
of ranking (a reranker, another lexical model) is one class that every caller picks up by name.

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

MODES: tuple[str, ...] = ("dense", "lexical", "hybrid")


@dataclass
class QueryBatch:
    """Prepared queries: their texts (images contribute none) and, for dense ranking, their vectors."""

    texts: list[str]
    vectors: np.ndarray | None = None

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
    from unret.items import to_items

    items, _ = to_items(list(queries))
    return [item.text or "" for item in items]


def check_mode(mode: str) -> str:
    """``mode`` if it names a retriever, else a ValueError listing the choices."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode
