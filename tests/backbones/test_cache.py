"""The embedding cache of frozen backbones: persistence, isolation per model, and I/O kept out of prepare."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
import torch

from tests.backbones.toy import TextOnlyToy, ToyBackbone
from tests.conftest import random_image
from unret.backbones.cache import EmbeddingCache
from unret.backbones.fused import FusedBackbone, cache_key
from unret.fusion import build_head
from unret.items import Code, to_item

pytestmark = pytest.mark.usefixtures("one_thread")


def test_memory_cache_returns_what_was_put():
    cache = EmbeddingCache("model")
    vectors = torch.randn(3, 4, dtype=torch.float64)
    cache.put(["a", "b", "c"], vectors)
    found = cache.get(["c", "x", "a"])
    assert set(found) == {"a", "c"} and len(cache) == 3
    np.testing.assert_array_equal(found["c"], vectors[2].float().numpy())
    assert found["a"].dtype == np.float32


def test_sqlite_cache_persists_per_model_and_opens_lazily(tmp_path):
    cache = EmbeddingCache("model-a", tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # nothing opened until used
    keys = [f"k{i}" for i in range(1203)]  # more than one 500-key query chunk
    vectors = torch.randn(len(keys), 8)
    cache.put(keys, vectors)
    cache.close()
    again = EmbeddingCache("model-a", tmp_path / "cache")
    found = again.get(keys)
    assert len(found) == len(keys)
    np.testing.assert_array_equal(np.stack([found[k] for k in keys]), vectors.numpy())
    assert EmbeddingCache("model-b", tmp_path / "cache").get(keys) == {}  # another model reads nothing
    rows = sqlite3.connect(tmp_path / "cache" / "model-a.sqlite").execute("SELECT COUNT(*) FROM vectors").fetchone()
    assert rows == (len(keys),)


def _fused(tmp_path=None) -> FusedBackbone:
    a, b = TextOnlyToy(seed=1), ToyBackbone(seed=2)
    return FusedBackbone(a, b, build_head("concat", a.dim, b.dim), {"a": "toy-a", "b": "toy-b"},
                         cache_dir=tmp_path).eval()


def test_prepare_is_pure_cpu_work_and_forward_uses_the_cache(tmp_path, monkeypatch):
    fused = _fused(tmp_path)
    items = [to_item("text"), to_item(Code("y = 2")), to_item(random_image(12, 12))]

    def refuse(*args, **kwargs):
        raise AssertionError("prepare touched the embedding cache")

    for cache in fused.caches.values():
        monkeypatch.setattr(cache, "get", refuse)
        monkeypatch.setattr(cache, "put", refuse)
    batch = fused.prepare(items)  # no cache I/O here
    assert not (tmp_path / "cache").exists() and not list(tmp_path.glob("*.sqlite"))
    assert len(batch["a"]["keys"]) == 2 and len(batch["b"]["keys"]) == 3  # keys by content, per side
    assert batch["b"]["inputs"] is None  # a caching side is prepared in forward, only if something misses
    monkeypatch.undo()

    first = fused(**fused.prepare(items))
    assert len(list(tmp_path.glob("*.sqlite"))) == 2  # written in forward
    calls = {"n": 0}
    original = fused.b.forward

    def counting(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    fused.b.forward = counting
    fused.b.prepare = counting
    again = fused(**fused.prepare(items))
    assert calls["n"] == 0  # every item cached: the backbone neither prepared nor ran
    torch.testing.assert_close(again, first)


def test_a_partly_cached_batch_embeds_like_a_fresh_one(tmp_path):
    fused = _fused(tmp_path)
    first = fused(**fused.prepare([to_item("one"), to_item("two")]))
    mixed = fused(**fused.prepare([to_item("two"), to_item("three"), to_item("one")]))
    torch.testing.assert_close(mixed[[2, 0]], first)
    fresh = _fused()  # no cache folder: memory only, a new instance
    torch.testing.assert_close(mixed, fresh(**fresh.prepare([to_item("two"), to_item("three"), to_item("one")])))


def test_a_cache_warmed_with_known_vectors_serves_them():
    """What benchmarks/fusion_bench.py does: seed a side's cache with corpus vectors by `cache_key`."""
    fused = _fused()
    items = [to_item("alpha"), to_item("beta")]
    known = torch.nn.functional.normalize(torch.randn(2, fused.b.dim), dim=-1)
    fused.caches["b"].put([cache_key(item) for item in items], known)
    fused.b.forward = fused.b.prepare = None  # must not run
    side_b = fused._side("b", fused.prepare(items)["b"], size=2)
    torch.testing.assert_close(side_b, known)


def test_trained_backbones_are_prepared_up_front_and_never_cached():
    fused = _fused()
    fused.set_train_backbones(True)
    batch = fused.prepare([to_item("x"), to_item(random_image(9, 9))])
    assert not fused.caches and batch["b"]["keys"] == [] and batch["b"]["inputs"] is not None
    assert fused(**batch).requires_grad  # gradients reach the backbones
