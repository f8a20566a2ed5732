"""Rerankers: cross-encoders that score a (query, document) pair together.

`load_reranker` reads sentence-transformers ``CrossEncoder`` packages (`cross_encoder`) and decoder LLMs
scored by the Qwen3-Reranker / Qwen3-VL-Reranker yes/no recipe (`decoder`). Search uses them as a second
stage (``mode="hybrid+rerank"``), mining as a distillation teacher.
"""

from unret.rerank.base import Reranker
from unret.rerank.cross_encoder import CrossEncoderReranker
from unret.rerank.decoder import DecoderReranker
from unret.rerank.loading import is_reranker, load_reranker, reranker_kind

__all__ = ["CrossEncoderReranker", "DecoderReranker", "Reranker", "is_reranker", "load_reranker", "reranker_kind"]
