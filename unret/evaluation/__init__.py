"""Evaluation: BEIR/CoIR-format loaders, trec_eval metrics, a BM25 baseline and ``evaluate``.

Names are imported lazily: ``.metrics`` (and ``unret.formats``, which reads the data) need neither torch
nor transformers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "BM25": "unret.evaluation.bm25",
    "DataFormatError": "unret.errors",
    "RetrievalDataset": "unret.formats",
    "evaluate": "unret.evaluation.evaluate",
    "evaluate_run": "unret.evaluation.metrics",
    "format_table": "unret.evaluation.evaluate",
    "load_beir": "unret.formats",
    "per_query": "unret.evaluation.metrics",
    "read_trec_run": "unret.evaluation.metrics",
    "run_evaluate": "unret.evaluation.evaluate",
    "write_beir": "unret.formats",
    "write_trec_run": "unret.evaluation.metrics",
}

__all__ = [
    "BM25",
    "DataFormatError",
    "RetrievalDataset",
    "evaluate",
    "evaluate_run",
    "format_table",
    "load_beir",
    "per_query",
    "read_trec_run",
    "run_evaluate",
    "write_beir",
    "write_trec_run",
]

if TYPE_CHECKING:
    from unret.errors import DataFormatError
    from unret.evaluation.bm25 import BM25
    from unret.evaluation.evaluate import evaluate, format_table, run_evaluate
    from unret.evaluation.metrics import evaluate_run, per_query, read_trec_run, write_trec_run
    from unret.formats import RetrievalDataset, load_beir, write_beir


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'unret.evaluation' has no attribute {name!r}")
