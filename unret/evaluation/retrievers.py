"""The retrievers ``evaluate`` ranks with: the library's dense / lexical / hybrid `Retriever`s over a data set.

Dense search in evaluation is exact by default (brute force over the corpus vectors, no index to build),
or through a `VectorIndex` (HNSW) to measure what a deployed index returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unret.evaluation.bm25 import corpus_texts
from unret.evaluation.metrics import Run
from unret.formats import RetrievalDataset
from unret.index import Hit, create_index, topk
from unret.items import spec_modality
from unret.search import LexicalIndex, Retriever, SearchContext, build, check_mode
from unret.search.registry import needs

if TYPE_CHECKING:
    from unret.retriever import UnifiedRetriever

_SCORE_BUDGET = 1 << 26  # floats in one (queries × corpus) score block of exact search: 256 MiB


def exact_search(queries: np.ndarray, docs: np.ndarray, doc_ids: Sequence[str], qids: Sequence[str],
                 k: int) -> Run:
    """Brute-force top-``k`` by inner product (cosine on unret's normalised vectors): ``unret.index.topk``."""
    rows, scores = topk(queries, docs, k, budget=_SCORE_BUDGET)
    return {qid: {doc_ids[r]: s for r, s in zip(rrow, srow, strict=True)}
            for qid, rrow, srow in zip(qids, rows.tolist(), scores.tolist(), strict=True)}


def index_search(queries: np.ndarray, docs: np.ndarray, doc_ids: Sequence[str], qids: Sequence[str],
                 k: int, modalities: Sequence[str]) -> Run:
    """Top-``k`` through unret's index (HNSW), i.e. what a deployed index would return."""
    hits = _hnsw_store(docs, doc_ids, modalities).search(queries, k=min(k, len(doc_ids)))
    return {qid: {h.id: h.score for h in row} for qid, row in zip(qids, hits, strict=True)}


def _hnsw_store(docs: np.ndarray, doc_ids: Sequence[str], modalities: Sequence[str]) -> Any:
    index = create_index(docs.shape[1], metric="cos")
    index.add(list(doc_ids), docs, list(modalities))
    return index


class _ExactStore:
    """Corpus vectors as a dense retriever's store, searched by `exact_search` (no index to build)."""

    def __init__(self, doc_ids: Sequence[str], docs: np.ndarray, modalities: Mapping[str, str]):
        self.doc_ids, self.docs, self.modalities = list(doc_ids), docs, modalities

    def search(self, queries: np.ndarray, k: int = 10, modality: Any = None, where: Any = None,
               exact: bool = True) -> list[list[Hit]]:
        if modality is not None or where is not None:
            raise ValueError("evaluation searches the whole corpus: no modality / where filters")
        qids = [str(i) for i in range(len(queries))]
        run = exact_search(queries, self.docs, self.doc_ids, qids, k)
        return [[Hit(d, s, self.modalities[d], {}) for d, s in run[q].items()] for q in qids]


def build_retriever(model: UnifiedRetriever | str, dataset: RetrievalDataset, mode: str,
                    corpus_vectors: Callable[[], tuple[list[str], np.ndarray, str]], batch_size: int = 16,
                    exact: bool = True, task: str | None = None, show_progress: bool | None = None,
                    timings: dict[str, float] | None = None, fusion: str = "rrf",
                    alpha: float = 0.5, rerank: Any = None, rerank_depth: int = 100) -> tuple[Retriever, str]:
    """The `Retriever` of ``mode`` (any registered search mode) over ``dataset``'s corpus; returns it and the
    embedding-cache status.

    ``"bm25"`` as ``model`` means lexical search. ``corpus_vectors()`` gives (ids, vectors, cache status)
    — ``evaluate`` passes its cached corpus encoder — and is called only by modes that need vectors; the
    lexical index is built only for modes that need it. ``rerank`` re-scores the top ``rerank_depth``.
    """
    timings = {} if timings is None else timings
    mode = "lexical" if isinstance(model, str) else check_mode(mode)
    modalities = {doc_id: spec_modality(spec) for doc_id, spec in dataset.corpus.items()}
    wanted = needs(mode)
    ids, texts = corpus_texts(dataset.corpus)
    text_of = dict(zip(ids, texts, strict=True)).get
    context = SearchContext(encoder=None if isinstance(model, str) else model,
                            catalog_get=lambda doc_id: (modalities[doc_id], _metadata(dataset, doc_id)),
                            text_of=text_of, exact=exact,
                            encode_kwargs={"batch_size": batch_size, "task": task, "show_progress": show_progress})
    cache = "off"
    if "lexical" in wanted:
        t = time.perf_counter()
        lexical = LexicalIndex().add(ids, texts)
        lexical.search(["warm up"], k=1)  # builds the BM25 matrices now, so index_s counts them
        context.lexical_source = lexical
        timings["index_s"] = time.perf_counter() - t
    if "vectors" in wanted:
        assert not isinstance(model, str)
        t = time.perf_counter()
        doc_ids, doc_vectors, cache = corpus_vectors()
        timings["encode_corpus_s"] = time.perf_counter() - t
        if exact:
            context.vectors = _ExactStore(doc_ids, doc_vectors, modalities)
        else:
            t = time.perf_counter()
            context.vectors = _hnsw_store(doc_vectors, doc_ids, [modalities[i] for i in doc_ids])
            timings["index_s"] = timings.get("index_s", 0.0) + time.perf_counter() - t
    return build(mode, context, rerank=rerank, rerank_depth=rerank_depth, fusion=fusion, alpha=alpha), cache


def _metadata(dataset: RetrievalDataset, doc_id: str) -> dict[str, Any]:
    """An image document's file as ``source`` (what a reranker reads the image from), else nothing."""
    spec = dataset.corpus[doc_id]
    image = spec[0] if isinstance(spec, tuple) else spec
    return {"source": str(image)} if isinstance(image, Path) else {}
