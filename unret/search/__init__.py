"""Search strategies behind one interface: dense (vectors), lexical (BM25) and hybrid (both, fused).

See `unret.search.base` for the interface and docs/architecture.md for how to add a retriever.
"""

from unret.search.base import MODES, QueryBatch, Retriever, check_mode
from unret.search.bm25 import LexicalIndex, tokenize
from unret.search.dense import DenseRetriever
from unret.search.hybrid import FUSIONS, HybridRetriever, convex, rrf
from unret.search.lexical import LexicalRetriever

__all__ = [
    "FUSIONS", "MODES", "DenseRetriever", "HybridRetriever", "LexicalIndex", "LexicalRetriever", "QueryBatch",
    "Retriever", "check_mode", "convex", "rrf", "tokenize",
]
