"""Rank fusion: RRF and the convex combination against hand computations; the hybrid retriever on toy stores."""

from __future__ import annotations

import numpy as np
import pytest

from unret.index import Hit, VectorIndex
from unret.search import DenseRetriever, HybridRetriever, LexicalIndex, LexicalRetriever, rrf
from unret.search.hybrid import convex


def test_rrf_matches_the_formula():
    fused = rrf([["a", "b", "c"], ["c", "a"]], rrf_k=60)
    assert fused == pytest.approx({"a": 1 / 61 + 1 / 62, "b": 1 / 62, "c": 1 / 63 + 1 / 61})
    weighted = rrf([["a"], ["b"]], weights=[2.0, 1.0], rrf_k=0)
    assert weighted == pytest.approx({"a": 2.0, "b": 1.0})


def test_convex_min_max_normalises_each_list():
    fused = convex([[("a", 0.9), ("b", 0.5), ("c", 0.1)], [("c", 12.0), ("d", 4.0)]], [0.25, 0.75])
    assert fused == pytest.approx({"a": 0.25, "b": 0.125, "c": 0.75, "d": 0.0})
    assert convex([[("a", 3.0)], []], [0.5, 0.5]) == pytest.approx({"a": 0.5})  # one score maps to 1


class _Encoder:
    """Queries → fixed vectors, so the dense side is known exactly."""

    def __init__(self, table):
        self.table = table

    def encode_queries(self, inputs, convert_to="numpy", **_):
        return np.stack([self.table[q] for q in inputs])


@pytest.fixture
def toy():
    ids = ["a", "b", "c", "d"]
    vecs = np.eye(4, dtype=np.float32)
    index = VectorIndex(4)
    index.add(ids, vecs, ["text", "text", "code", "code"], [{"n": i} for i in range(4)])
    lex = LexicalIndex().add(ids, ["apple pie", "banana bread", "cherry tart apple", "date"])
    q = np.array([0.1, 0.9, 0.3, 0.0], np.float32)  # dense ranking: b, c, a
    dense = DenseRetriever(_Encoder({"apple": q}), index, exact=True)
    return dense, LexicalRetriever(lex, index.get)


def test_hybrid_rrf_fuses_the_two_rankings(toy):
    dense, lexical = toy
    d = [h.id for h in dense.search(["apple"], k=4)[0]]
    lx = [h.id for h in lexical.search(["apple"], k=4)[0]]
    assert d[:3] == ["b", "c", "a"] and set(lx) == {"a", "c"}
    hits = HybridRetriever(dense, lexical).search(["apple"], k=3)[0]
    want = sorted(rrf([d, lx]).items(), key=lambda kv: -kv[1])[:3]
    assert [(h.id, h.score) for h in hits] == [(i, pytest.approx(s)) for i, s in want]
    assert [h.id for h in hits] == ["a", "c", "b"]  # in both lists beats first in one only
    assert all(isinstance(h, Hit) and h.metadata == {"n": "abcd".index(h.id)} for h in hits)


def test_hybrid_convex_and_filters(toy):
    dense, lexical = toy
    only_dense = HybridRetriever(dense, lexical, fusion="convex", alpha=1.0).search(["apple"], k=2)[0]
    assert [h.id for h in only_dense] == ["b", "c"]
    only_lex = HybridRetriever(dense, lexical, fusion="convex", alpha=0.0).search(["apple"], k=1)[0]
    assert only_lex[0].id == lexical.search(["apple"], k=1)[0][0].id
    code = HybridRetriever(dense, lexical).search(["apple"], k=4, modality="code")[0]
    assert {h.id for h in code} <= {"c", "d"} and code[0].id == "c"
    where = lexical.search(["apple"], k=4, where={"n": 0})[0]
    assert [h.id for h in where] == ["a"]
    with pytest.raises(ValueError, match="fusion"):
        HybridRetriever(dense, lexical, fusion="max")
    with pytest.raises(ValueError, match="alpha"):
        HybridRetriever(dense, lexical, fusion="convex", alpha=1.5)
