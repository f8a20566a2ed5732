"""UnifiedRetriever: output forms, order restoration, truncation and save/load."""

from __future__ import annotations

import numpy as np
import torch

from tests.conftest import random_image
from unret import Code, UnifiedRetriever


def test_order_is_restored_after_length_sorting(tiny_vl):
    docs = ["b" * 5, "a " * 80, Code("x = 1"), random_image(56, 56), "medium length text " * 5]
    sorted_ = tiny_vl.encode_documents(docs, batch_size=2, sort_by_length=True)
    unsorted = tiny_vl.encode_documents(docs, batch_size=2, sort_by_length=False)
    torch.testing.assert_close(sorted_, unsorted, atol=1e-4, rtol=0)
    for i, d in enumerate(docs):
        torch.testing.assert_close(sorted_[i], tiny_vl.encode_documents(d), atol=1e-4, rtol=0)


def test_numpy_output_and_single_input(tiny_vl):
    out = tiny_vl.encode_queries(["q1", "q2"], convert_to="numpy")
    assert isinstance(out, np.ndarray) and out.shape == (2, tiny_vl.dim) and out.dtype == np.float32
    single = tiny_vl.encode_queries("q1")
    assert single.shape == (tiny_vl.dim,)
    np.testing.assert_allclose(single.numpy(), out[0], atol=1e-5)


def test_queries_and_documents_use_different_prompts(tiny_vl):
    q = tiny_vl.encode_queries("retrieval")
    d = tiny_vl.encode_documents("retrieval")
    assert not torch.allclose(q, d, atol=1e-3)
    assert not torch.allclose(q, tiny_vl.encode_queries("retrieval", task="nl2code"), atol=1e-3)


def test_truncate_dim_is_a_renormalised_prefix(tiny_vl):
    full = tiny_vl.encode_documents(["alpha", "beta"])
    short = tiny_vl.encode_documents(["alpha", "beta"], truncate_dim=16)
    torch.testing.assert_close(short, full[:, :16] / full[:, :16].norm(dim=1, keepdim=True), atol=1e-5, rtol=0)


def test_save_pretrained_round_trip(tiny_vl_path, tmp_path):
    r = UnifiedRetriever.from_pretrained(tiny_vl_path, prompts="supervised", truncate_dim=32, max_pixels=28 * 28 * 8)
    inputs = ["a text", Code("def f(): pass"), random_image(90, 60)]
    before = r.encode_documents(inputs)
    r.save_pretrained(tmp_path / "saved")
    again = UnifiedRetriever.from_pretrained(tmp_path / "saved")
    assert again.dim == 32 and again.backbone.prompts.name == "supervised"
    assert again.backbone.max_pixels == 28 * 28 * 8
    torch.testing.assert_close(again.encode_documents(inputs), before, atol=1e-6, rtol=0)


def test_missing_model_gives_a_clear_error(tmp_path):
    import pytest

    with pytest.raises(OSError, match="cannot load model"):
        UnifiedRetriever.from_pretrained(str(tmp_path / "nope"))
