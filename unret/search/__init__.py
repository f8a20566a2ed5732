"""Search strategies behind one interface: dense (vectors), lexical (BM25) and hybrid (both, fused), each
registered by name in `unret.search.registry`, and a rerank stage that re-scores any of them.

See `unret.search.base` for the interface and docs/architecture.md for how to add a mode.
"""

from typing import Any

from unret.search.base import QueryBatch, Retriever, check_mode
from unret.search.bm25 import LexicalIndex, tokenize
from unret.search.dense import DenseRetriever
from unret.search.hybrid import FUSIONS, HybridRetriever, convex, rrf
from unret.search.lexical import LexicalRetriever
from unret.search.registry import SearchContext, build, modes, register_mode

__all__ = [
    "FUSIONS", "MODES", "DenseRetriever", "HybridRetriever", "LexicalIndex", "LexicalRetriever", "QueryBatch",
    "Retriever", "SearchContext", "build", "check_mode", "convex", "modes", "register_mode", "rrf", "tokenize",
]


def __getattr__(name: str) -> Any:
    if name == "MODES":  # the registered modes now (a mode registered after import is listed too)
        return modes()
    raise AttributeError(f"module 'unret.search' has no attribute {name!r}")
