"""A tiny CrossEncoder package built by sentence-transformers itself (random weights, MiniLM's tokenizer)."""

from __future__ import annotations

import pytest
import torch


def build_cross_encoder(out, tokenizer_path, max_length=None, activation=None, seed=0):
    """Save a random 2-layer BERT cross-encoder with ``CrossEncoder(...).save``; returns ``out``."""
    pytest.importorskip("sentence_transformers", reason="dev extra sentence-transformers not installed")
    from sentence_transformers import CrossEncoder
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, num_labels=1, max_position_embeddings=128)
    torch.manual_seed(seed)
    raw = out.parent / f"{out.name}-raw"
    BertForSequenceClassification(config).eval().save_pretrained(raw)
    tokenizer.save_pretrained(raw)
    CrossEncoder(str(raw), max_length=max_length, activation_fn=activation).save(str(out))
    return out
