"""Tiny CrossEncoder packages for the reranker tests."""

from __future__ import annotations

import pytest
import torch

from tests.rerank.tiny import build_cross_encoder


@pytest.fixture(scope="session")
def cross_encoder_path(tmp_path_factory, minilm_path):
    """Sigmoid (the default for one label), 16 tokens at most: long pairs are truncated."""
    return build_cross_encoder(tmp_path_factory.mktemp("ce") / "sigmoid", minilm_path, max_length=16)


@pytest.fixture(scope="session")
def identity_cross_encoder_path(tmp_path_factory, minilm_path):
    """Identity activation (raw logits), the tokenizer's own maximum length."""
    return build_cross_encoder(tmp_path_factory.mktemp("ce") / "identity", minilm_path,
                               activation=torch.nn.Identity(), seed=1)
