"""Hard-negative mining and teacher scoring: turn a BEIR training split into unret training JSONL.

* `mine_hard_negatives` retrieves each query's top candidates with a retriever and keeps the
  non-positives as hard negatives, dropping any that score above ``max_score_ratio`` × the positive's
  score — likely unlabelled positives (NV-Retriever's "TopK-PercPos", Moreira et al. 2024).
* `score_candidates` scores each query's candidate list with a teacher: a reranker (`unret.rerank`: a
  CrossEncoder package or a Qwen yes/no reranker — the cross-encoder teacher of listwise distillation,
  Tamber et al. 2025), another unret retriever used as a bi-encoder (cosine), or any callable
  ``(query, documents) -> scores`` (an LLM judge).

``unret mine`` chains both and writes the JSONL that ``configs/contrastive.yaml`` (negatives only) and
``configs/distill.yaml`` (candidates + ``teacher_scores``) read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unret.formats import RetrievalDataset, spec_record, write_jsonl
from unret.index import topk
from unret.items import ItemSpec, Text

Scorer = Callable[[ItemSpec, Sequence[ItemSpec]], Sequence[float]]


def _search_all(retriever, dataset: RetrievalDataset, qids: Sequence[str], depth: int, batch_size: int,
                task: str | None) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Doc ids, doc and query vectors, and the exact top-``depth`` (doc indices, scores) of every query."""
    doc_ids = list(dataset.corpus)
    docs = retriever.encode_documents([dataset.corpus[d] for d in doc_ids], batch_size=batch_size,
                                      convert_to="numpy", show_progress=True)
    queries = retriever.encode_queries([dataset.queries[q] for q in qids], batch_size=batch_size, task=task,
                                       convert_to="numpy", show_progress=True)
    top_idx, top_scores = topk(queries, docs, depth)  # exact, best first, chunked over queries
    return doc_ids, docs, queries, top_idx, top_scores


def mine_hard_negatives(retriever, dataset: RetrievalDataset, num_negatives: int = 15, depth: int = 100,
                        max_score_ratio: float | None = 0.95, batch_size: int = 32,
                        task: str | None = None) -> dict[str, list[str]]:
    """Per judged query, up to ``num_negatives`` top-ranked non-positive document ids, best first."""
    qids = [q for q, rels in dataset.qrels.items() if any(s > 0 for s in rels.values())]
    doc_ids, docs, queries, top_idx, top_scores = _search_all(retriever, dataset, qids, depth + num_negatives,
                                                              batch_size, task)
    position = {d: i for i, d in enumerate(doc_ids)}
    mined: dict[str, list[str]] = {}
    for row, qid in enumerate(qids):
        positives = {d for d, s in dataset.qrels[qid].items() if s > 0}
        ceiling = np.inf
        if max_score_ratio is not None:  # relative to the weakest positive's score
            ceiling = max_score_ratio * float((docs[[position[d] for d in positives]] @ queries[row]).min())
        mined[qid] = [doc_ids[i] for i, s in zip(top_idx[row], top_scores[row], strict=True)
                      if doc_ids[i] not in positives and s <= ceiling][:num_negatives]
    return mined


def score_candidates(teacher, dataset: RetrievalDataset, candidates: Mapping[str, Sequence[str]],
                     batch_size: int = 32, task: str | None = None) -> dict[str, list[float]]:
    """Teacher scores for each query's candidate list (ids into the corpus), in list order.

    A `unret.rerank.Reranker` scores every (query, candidate) pair in batches of ``batch_size``; a
    ``UnifiedRetriever`` teacher encodes every distinct query and document once; a callable teacher is
    called once per query with the list.
    """
    from unret.rerank import Reranker

    if isinstance(teacher, Reranker):
        qids = list(candidates)
        pairs = [(dataset.queries[q], dataset.corpus[d]) for q in qids for d in candidates[q]]
        flat = teacher.score_pairs([q for q, _ in pairs], [d for _, d in pairs], batch_size=batch_size).tolist()
        out, start = {}, 0
        for q in qids:
            out[q], start = flat[start:start + len(candidates[q])], start + len(candidates[q])
        return out
    if callable(teacher) and not hasattr(teacher, "encode_documents"):
        return {qid: [float(s) for s in teacher(dataset.queries[qid], [dataset.corpus[d] for d in docs])]
                for qid, docs in candidates.items()}
    doc_ids = sorted({d for docs in candidates.values() for d in docs})
    row = {d: i for i, d in enumerate(doc_ids)}
    qids = list(candidates)
    docs = teacher.encode_documents([dataset.corpus[d] for d in doc_ids], batch_size=batch_size,
                                    convert_to="numpy", show_progress=True)
    queries = teacher.encode_queries([dataset.queries[q] for q in qids], batch_size=batch_size, task=task,
                                     convert_to="numpy", show_progress=True)
    return {qid: [float(queries[i] @ docs[row[d]]) for d in candidates[qid]] for i, qid in enumerate(qids)}


def load_teacher(name_or_path: str, device: str | None = None, dtype: Any = None, **kwargs: Any) -> Any:
    """A reranker for what `unret.rerank.is_reranker` recognises (a CrossEncoder package, a Qwen…Reranker),
    else a ``UnifiedRetriever`` used as a bi-encoder teacher."""
    from unret.rerank import is_reranker, load_reranker

    if is_reranker(name_or_path):
        return load_reranker(name_or_path, device=device, dtype=dtype, **kwargs)
    from unret.retriever import UnifiedRetriever

    return UnifiedRetriever.from_pretrained(name_or_path, device=device, dtype=dtype, **kwargs)


def _record(spec: ItemSpec) -> Any:
    """A spec as a training-JSONL item: text as a plain string, anything else as its record."""
    return spec.text if isinstance(spec, Text) else spec_record(spec)


def training_records(dataset: RetrievalDataset, negatives: Mapping[str, Sequence[str]],
                     teacher_scores: Mapping[str, Sequence[float]] | None = None) -> list[dict[str, Any]]:
    """JSONL records: positives from the qrels, mined negatives, and scores over positives + negatives."""
    records = []
    for qid, neg in negatives.items():
        positives = [d for d, s in dataset.qrels[qid].items() if s > 0]
        record: dict[str, Any] = {
            "query_id": qid,
            "query": _record(dataset.queries[qid]),
            "positives": [_record(dataset.corpus[d]) for d in positives],
            "negatives": [_record(dataset.corpus[d]) for d in neg],
        }
        if teacher_scores is not None:
            record["teacher_scores"] = list(teacher_scores[qid])
        records.append(record)
    return records


def mine(retriever, dataset: RetrievalDataset, out: str | Path, num_negatives: int = 15, teacher=None,
         list_size: int = 20, max_score_ratio: float | None = 0.95, batch_size: int = 32,
         task: str | None = None, negatives: Mapping[str, Sequence[str]] | None = None) -> int:
    """Mine negatives (and, with a teacher, score positives + negatives) and write training JSONL.

    ``negatives`` reuses an earlier `mine_hard_negatives` result instead of mining again.
    """
    if negatives is None:
        depth = max(list_size - 1, 1) if teacher is not None else num_negatives
        negatives = mine_hard_negatives(retriever, dataset, depth, max_score_ratio=max_score_ratio,
                                        batch_size=batch_size, task=task)
    scores = None
    if teacher is None:
        negatives = {q: list(neg)[:num_negatives] for q, neg in negatives.items()}
    else:
        n_pos = {q: len([d for d, s in dataset.qrels[q].items() if s > 0]) for q in negatives}
        negatives = {q: list(neg)[: max(list_size - n_pos[q], 0)] for q, neg in negatives.items()}
        candidates = {q: [d for d, s in dataset.qrels[q].items() if s > 0] + negatives[q] for q in negatives}
        scores = score_candidates(teacher, dataset, candidates, batch_size=batch_size, task=task)
    return write_jsonl(out, training_records(dataset, negatives, scores))
