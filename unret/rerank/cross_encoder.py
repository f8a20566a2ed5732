"""sentence-transformers ``CrossEncoder`` packages, run with plain transformers.

A package is a sequence-classification checkpoint plus sentence-transformers' files, read the way
`unret.backbones.st_package` reads embedder packages: ``config_sentence_transformers.json``
(``model_type: CrossEncoder``, ``activation_fn``; sentence-transformers ≥ 5), ``config.json``'s
``sentence_transformers.activation_fn`` (v4) or ``sbert_ce_default_activation_function`` (older), and
``sentence_bert_config.json``'s ``max_seq_length``. As in sentence-transformers, the activation defaults to a
sigmoid for one label, query and document are tokenized as a pair and truncated together (longest first)
to the maximum length, and the score is the activated logit — so scores match ``CrossEncoder.predict``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unret.backbones.st_package import BERT_CONFIG, ST_CONFIG, read_json
from unret.errors import ConfigError
from unret.items import Item
from unret.rerank.base import Reranker

ACTIVATIONS = {
    "torch.nn.modules.activation.Sigmoid": torch.sigmoid,
    "torch.nn.modules.linear.Identity": lambda x: x,
    "torch.nn.modules.activation.Tanh": torch.tanh,
}


def is_cross_encoder_package(name_or_path: str) -> bool:
    """A sentence-transformers CrossEncoder package, or a plain single-label sequence classifier."""
    st = read_json(name_or_path, ST_CONFIG) or {}
    if st.get("model_type") == "CrossEncoder":
        return True
    config = read_json(name_or_path, "config.json") or {}
    return any(a.endswith("ForSequenceClassification") for a in config.get("architectures") or [])


def activation_name(name_or_path: str, num_labels: int) -> str:
    """The dotted activation sentence-transformers would apply, from the package's files."""
    st = read_json(name_or_path, ST_CONFIG) or {}
    config = read_json(name_or_path, "config.json") or {}
    name = (st.get("activation_fn") or (config.get("sentence_transformers") or {}).get("activation_fn")
            or config.get("sbert_ce_default_activation_function"))
    if name is None:
        name = "torch.nn.modules.activation.Sigmoid" if num_labels == 1 else "torch.nn.modules.linear.Identity"
    return name


class CrossEncoderReranker(Reranker):
    """A (BERT-style) sequence classifier scoring ``(query, document)`` text pairs."""

    def __init__(self, model: Any, tokenizer: Any, activation: str = "torch.nn.modules.activation.Sigmoid",
                 max_length: int | None = None, batch_size: int = 32, name: str = ""):
        if activation not in ACTIVATIONS:
            raise ConfigError(f"{name or 'cross-encoder'}: unsupported activation {activation!r} "
                              f"(unret runs {sorted(ACTIVATIONS)})")
        if model.config.num_labels != 1:
            raise ConfigError(f"{name or 'cross-encoder'} has {model.config.num_labels} labels; reranking needs "
                              "one score per pair (num_labels=1)")
        self.model, self.tokenizer, self.activation = model.eval(), tokenizer, activation
        self.max_length, self.batch_size, self.name = max_length, batch_size, name

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, device: str | None = None, dtype: Any = None,
                        max_length: int | None = None, batch_size: int = 32) -> CrossEncoderReranker:
        """Load a CrossEncoder package (or a plain sequence-classification checkpoint)."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = str(name_or_path)
        st = read_json(path, ST_CONFIG) or {}
        if st.get("default_prompt_name") or st.get("prompts"):
            raise ConfigError(f"{path}: cross-encoder prompts are not supported by unret's reranker")
        model = AutoModelForSequenceClassification.from_pretrained(path, dtype=dtype or "float32")
        if device is not None:
            model = model.to(device)
        tokenizer = AutoTokenizer.from_pretrained(path)
        if max_length is None:
            max_length = (read_json(path, BERT_CONFIG) or {}).get("max_seq_length")
        if max_length is None and tokenizer.model_max_length < 1_000_000:
            max_length = int(tokenizer.model_max_length)
        return cls(model, tokenizer, activation_name(path, model.config.num_labels), max_length, batch_size, path)

    @torch.inference_mode()
    def score_items(self, queries: Sequence[Item], documents: Sequence[Item]) -> np.ndarray:
        features = self.tokenizer([q.text or "" for q in queries], [d.text or "" for d in documents],
                                  padding=True, truncation="longest_first", max_length=self.max_length,
                                  return_tensors="pt")
        device = next(self.model.parameters()).device
        logits = self.model(**{k: v.to(device) for k, v in features.items()}).logits  # (batch, 1)
        return ACTIVATIONS[self.activation](logits.float()).squeeze(-1).cpu().numpy()
