"""Lexical retrieval: BM25 over the indexed texts, filtered through the same catalog as dense search."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from unret.index import Hit, Where
from unret.search.base import QueryBatch, Retriever, query_batch
from unret.search.bm25 import LexicalIndex
from unret.search.registry import SearchContext, register_mode

Catalog = Callable[[str], tuple[str, dict]]  # id -> (modality, metadata), e.g. VectorIndex.get


class LexicalRetriever(Retriever):
    """BM25 hits as `Hit`s; ``catalog(id)`` supplies each hit's modality and metadata (and the filters')."""

    mode = "lexical"

    def __init__(self, lexical: LexicalIndex, catalog: Catalog):
        self.lexical, self.catalog = lexical, catalog

    def prepare(self, queries: Sequence[Any]) -> QueryBatch:
        return query_batch(queries)

    def search_prepared(self, batch: QueryBatch, k: int = 10, modality: str | Collection[str] | None = None,
                        where: Where | None = None) -> list[list[Hit]]:
        accept = _acceptor(self.catalog, modality, where)
        ranked = self.lexical.search(batch.texts, k=k, accept=accept)
        hits = []
        for row in ranked:
            out = []
            for doc_id, score in row:
                mod, meta = self.catalog(doc_id)
                out.append(Hit(doc_id, score, mod, meta))
            hits.append(out)
        return hits


def _acceptor(catalog: Catalog, modality: str | Collection[str] | None,
              where: Where | None) -> Callable[[str], bool] | None:
    if modality is None and where is None:
        return None
    modalities = None if modality is None else ({modality} if isinstance(modality, str) else set(modality))
    if where is not None and not (callable(where) or isinstance(where, Mapping)):
        raise TypeError(f"where must be a dict or a callable(metadata) -> bool, not {type(where)}")

    def accept(doc_id: str) -> bool:
        try:
            mod, meta = catalog(doc_id)
        except KeyError:
            return False
        if modalities is not None and mod not in modalities:
            return False
        if where is None:
            return True
        if callable(where):
            return bool(where(meta))
        return all(key in meta and meta[key] == value for key, value in where.items())

    return accept


def build_lexical(context: SearchContext, **_: Any) -> LexicalRetriever:
    """The ``lexical`` mode over a context: BM25 over its lexical side, hits described by its catalog."""
    return LexicalRetriever(context.lexical, context.catalog_get)


register_mode("lexical", build_lexical, "BM25 over the documents' text", needs=("lexical",))
