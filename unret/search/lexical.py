"""Lexical retrieval: BM25 over the indexed texts, filtered through the same filter as dense search.

Filters are the store's: one batched ``accepts(ids, modality, where)`` call per search (JSON-typed
comparison, ``True`` is not ``1``), never a lookup per document.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from unret.index import Hit, Where
from unret.index.planner import matches
from unret.search.base import QueryBatch, Retriever, query_batch
from unret.search.bm25 import LexicalIndex
from unret.search.registry import SearchContext, register_mode

Catalog = Callable[[str], tuple[str, dict]]  # id -> (modality, metadata), e.g. VectorIndex.get


class Filterable(Protocol):
    """What the lexical retriever needs from a store (`VectorIndex`, `DocumentStore`, the Milvus store)."""

    def get(self, id: str) -> tuple[str, dict]: ...

    def accepts(self, ids: Sequence[str], modality: str | Collection[str] | None = None,
                where: Where | None = None) -> np.ndarray: ...


class LexicalRetriever(Retriever):
    """BM25 hits as `Hit`s; ``store`` supplies each hit's modality and metadata and filters the candidates
    (a plain ``catalog(id) -> (modality, metadata)`` callable also works, filtered with the same rules)."""

    mode = "lexical"

    def __init__(self, lexical: LexicalIndex, store: Filterable | Catalog):
        self.lexical = lexical
        self.store = store if hasattr(store, "accepts") else _CallableCatalog(store)
        self.catalog = self.store.get

    def prepare(self, queries: Sequence[Any]) -> QueryBatch:
        return query_batch(queries)

    def search_prepared(self, batch: QueryBatch, k: int = 10, modality: str | Collection[str] | None = None,
                        where: Where | None = None) -> list[list[Hit]]:
        accept = self._acceptor(modality, where)
        ranked = self.lexical.search(batch.texts, k=k, accept=accept)
        hits = []
        for row in ranked:
            out = []
            for doc_id, score in row:
                mod, meta = self.catalog(doc_id)
                out.append(Hit(doc_id, score, mod, meta))
            hits.append(out)
        return hits

    def _acceptor(self, modality: str | Collection[str] | None, where: Where | None) -> Callable[[str], bool] | None:
        """The ids passing the filters, from one batched ``store.accepts`` over the lexical index's ids."""
        if modality is None and where is None:
            return None
        if where is not None and not (callable(where) or isinstance(where, Mapping)):
            raise TypeError(f"where must be a dict or a callable(metadata) -> bool, not {type(where)}")
        ids = self.lexical.ids()
        ok = np.asarray(self.store.accepts(ids, modality, where), bool)
        return frozenset(i for i, good in zip(ids, ok.tolist(), strict=True) if good).__contains__


class _CallableCatalog:
    """A ``catalog(id)`` callable as a `Filterable`: the same JSON-typed ``where`` rules, one id at a time."""

    def __init__(self, catalog: Catalog):
        self.get = catalog

    def accepts(self, ids: Sequence[str], modality: str | Collection[str] | None = None,
                where: Where | None = None) -> np.ndarray:
        wanted = None if modality is None else ({modality} if isinstance(modality, str) else set(modality))
        out = np.zeros(len(ids), bool)
        for n, doc_id in enumerate(ids):
            try:
                mod, meta = self.get(doc_id)
            except KeyError:
                continue
            out[n] = (wanted is None or mod in wanted) and (
                where is None or (bool(where(meta)) if callable(where) else matches(meta, where)))
        return out


def build_lexical(context: SearchContext, **_: Any) -> LexicalRetriever:
    """The ``lexical`` mode over a context: BM25 over its lexical side, hits described by its catalog."""
    store = context.vectors if hasattr(context.vectors, "accepts") else context.catalog_get
    return LexicalRetriever(context.lexical, store)


register_mode("lexical", build_lexical, "BM25 over the documents' text", needs=("lexical",))
