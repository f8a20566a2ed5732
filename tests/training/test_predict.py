"""Corpus encoding through Trainer.predict: shards from 2 CPU processes equal single-process output."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import random_image
from unret import Code, UnifiedRetriever
from unret.index import VectorIndex
from unret.training.predict import encode_to_shards, ingest_shards, read_shards


@pytest.fixture(scope="module")
def corpus():
    inputs = [f"document number {i} about topic {i % 5}" for i in range(9)]
    inputs += [Code(f"def f{i}(x):\n    return x + {i}", "python") for i in range(4)]
    inputs += [random_image(40 + 8 * i, 56, seed=i) for i in range(4)]
    return inputs, [f"doc-{i}" for i in range(len(inputs))]


def test_two_processes_write_the_same_vectors_as_one(corpus, tmp_path, tiny_vl_path):
    inputs, ids = corpus
    common = dict(batch_size=3, accelerator="cpu", enable_progress_bar=False)
    encode_to_shards(str(tiny_vl_path), inputs, ids, tmp_path / "one", devices=1, **common)
    encode_to_shards(str(tiny_vl_path), inputs, ids, tmp_path / "two", devices=2, strategy="ddp_spawn",
                     shard_size=4, **common)
    assert len(list((tmp_path / "two").glob("shard-r0001-*.npz"))) >= 1  # rank 1 really wrote shards
    ids_one, one = read_shards(tmp_path / "one")
    ids_two, two = read_shards(tmp_path / "two")
    assert ids_one == ids_two == ids
    np.testing.assert_allclose(two, one, atol=1e-5)
    reference = UnifiedRetriever.from_pretrained(tiny_vl_path).encode_documents(inputs, convert_to="numpy")
    np.testing.assert_allclose(one, reference, atol=1e-5)


def test_shards_ingest_into_the_index(corpus, tmp_path, tiny_vl_path):
    inputs, ids = corpus
    encode_to_shards(str(tiny_vl_path), inputs, ids, tmp_path / "s", devices=1, accelerator="cpu",
                     enable_progress_bar=False, shard_size=5, batch_size=2)
    sizes = [len(np.load(f)["ids"]) for f in sorted((tmp_path / "s").glob("*.npz"))]
    assert sizes == [6, 6, 5]  # flushed at the first batch that reaches 5 vectors, and at the end
    index = VectorIndex(dim=64)
    modalities = ["text"] * 9 + ["code"] * 4 + ["image"] * 4
    assert ingest_shards(index, tmp_path / "s", modalities) == len(ids)
    _, vectors = read_shards(tmp_path / "s")
    assert index.search(vectors[14], k=1)[0][0].id == "doc-14"


def test_missing_shards_and_misaligned_ids_are_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no embedding shards"):
        read_shards(tmp_path)
    with pytest.raises(ValueError, match="2 inputs but 1 ids"):
        encode_to_shards("unret-testing/tiny-qwen2.5-vl", ["a", "b"], ["x"], tmp_path)
