"""One behavioural suite for every VectorStore: the embedded usearch index and Milvus (milvus-lite here).

Search results are checked against an independent numpy cosine top-k; filters against the JSON-typed
semantics the protocol promises (True is not 1, "1" is not 1, 1 == 1.0, lists element-wise).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.store.conftest import need
from unret.errors import ModelMismatchError, ReadOnlyIndexError
from unret.store.registry import load_store

DIM = 16
MODS = ["text", "code", "image"]


def corpus(n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, DIM)).astype(np.float32) * rng.uniform(0.5, 3.0, size=(n, 1)).astype(np.float32)
    ids = [f"doc-{i}" for i in range(n)]
    mods = [MODS[i % 3] for i in range(n)]
    meta = [{"i": i, "even": i % 2 == 0, "tag": f"t{i % 4}"} for i in range(n)]
    return ids, x, mods, meta


def numpy_topk(x, ids, q, k, keep=None):
    """Independent reference: cosine of every (kept) row, best first."""
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    s = qn @ xn.T
    out = []
    for row in s:
        order = [j for j in np.argsort(-row, kind="stable") if keep is None or keep[j]][:k]
        out.append([(ids[j], float(row[j])) for j in order])
    return out


def assert_hits(got, want):
    assert [[h.id for h in hits] for hits in got] == [[i for i, _ in hits] for hits in want]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose([h.score for h in g], [s for _, s in w], atol=1e-5)


@pytest.fixture
def filled(new_store):
    ids, x, mods, meta = corpus()
    store = new_store(DIM, {"name": "test-model"})
    store.add(ids, x, mods, meta)
    return store, (ids, x, mods, meta)


def test_add_get_ids_len_vectors(filled):
    store, (ids, x, mods, meta) = filled
    assert len(store) == 60
    assert sorted(store.ids()) == sorted(ids)
    assert "doc-7" in store and "nope" not in store
    assert store.get("doc-7") == (mods[7], meta[7])
    np.testing.assert_array_equal(store.vectors(["doc-3", "doc-0"]), x[[3, 0]])
    with pytest.raises(KeyError):
        store.get("nope")
    with pytest.raises(KeyError):
        store.vectors(["doc-1", "nope"])


def test_modality_counts(filled):
    store, _ = filled
    need(store, "modality_counts")
    assert store.modality_counts() == {"text": 20, "code": 20, "image": 20}


def test_search_equals_numpy_cosine_topk(filled):
    store, (ids, x, _, _) = filled
    q = np.random.default_rng(1).normal(size=(5, DIM)).astype(np.float32)
    assert_hits(store.search(q, k=7, exact=True), numpy_topk(x, ids, q, 7))
    assert_hits(store.search(q[0], k=100), numpy_topk(x, ids, q[:1], 60))  # k past n: every item once


def test_upsert_replaces_vector_modality_and_metadata(filled):
    store, (_, x, _, _) = filled
    new = -x[5] + 0.1
    store.add(["doc-5"], new[None], "image", [{"replaced": True}])
    assert len(store) == 60
    assert store.get("doc-5") == ("image", {"replaced": True})
    np.testing.assert_array_equal(store.vectors(["doc-5"])[0], new)
    top = store.search(new, k=1)[0][0]
    assert (top.id, top.modality, top.metadata) == ("doc-5", "image", {"replaced": True})
    assert top.score == pytest.approx(1.0, abs=1e-5)


def test_remove_unknown_id_raises_and_removes_nothing(filled):
    store, (ids, x, _, _) = filled
    with pytest.raises(KeyError):
        store.remove(["doc-1", "missing"])
    assert len(store) == 60 and "doc-1" in store
    assert store.remove("doc-1") == 1
    assert store.remove(["doc-2", "doc-3", "doc-2"]) == 2
    assert len(store) == 57 and "doc-1" not in store
    with pytest.raises(KeyError):
        store.get("doc-1")
    keep = np.array([i not in ("doc-1", "doc-2", "doc-3") for i in ids])
    assert_hits(store.search(x[1:3], k=5), numpy_topk(x, ids, x[1:3], 5, keep))


def test_modality_filter(filled):
    store, (ids, x, mods, _) = filled
    q = np.random.default_rng(2).normal(size=(3, DIM)).astype(np.float32)
    for modality in ("code", ["code", "image"], []):
        allowed = [modality] if isinstance(modality, str) else modality
        keep = np.array([m in allowed for m in mods])
        assert_hits(store.search(q, k=6, modality=modality), numpy_topk(x, ids, q, 6, keep))


TYPED = {  # id -> metadata; the where cases below name exactly the ids they must match
    "bool": {"v": True}, "int": {"v": 1}, "float": {"v": 1.0}, "str": {"v": "1"}, "null": {"v": None},
    "list": {"v": [1, "a"]}, "list-rev": {"v": ["a", 1]}, "list-long": {"v": [1, "a", 2]},
    "obj": {"v": {"a": 1}}, "obj-more": {"v": {"a": 1, "b": 2}}, "none": {},
    'quo"te': {"v": 'x" or id != "'}, "back\\slash\n": {"v": "x\\"},
}
WHERE_CASES = [
    ({"v": True}, {"bool"}),
    ({"v": 1}, {"int", "float"}),
    ({"v": 1.0}, {"int", "float"}),
    ({"v": "1"}, {"str"}),
    ({"v": None}, {"null"}),
    ({"v": [1, "a"]}, {"list"}),
    ({"v": (1, "a")}, {"list"}),
    ({"v": {"a": 1}}, {"obj"}),
    ({"v": 'x" or id != "'}, {'quo"te'}),
    ({"v": "x\\"}, {"back\\slash\n"}),
    ({"v": False}, set()),
    ({"v": float("nan")}, set()),
    ({"missing": 1}, set()),
    ({}, set(TYPED)),
]


@pytest.mark.parametrize(("where", "expected"), WHERE_CASES, ids=[repr(w) for w, _ in WHERE_CASES])
def test_where_has_json_typed_semantics(new_store, where, expected):
    store = new_store(4)
    rng = np.random.default_rng(3)
    store.add(list(TYPED), rng.normal(size=(len(TYPED), 4)), "text", list(TYPED.values()))
    hits = store.search(rng.normal(size=4), k=len(TYPED), where=where)[0]
    assert {h.id for h in hits} == expected
    if hasattr(store, "accepts"):
        assert set(np.array(list(TYPED))[store.accepts(list(TYPED), where=where)]) == expected


def test_where_finds_k_hits_behind_many_lookalikes(new_store):
    """Forty items with ``flag: 1`` lie nearer the query than three with ``flag: true``: a store whose engine
    cannot tell 1 from true must keep looking (over-fetch), never return the ints or stop short."""
    store = new_store(DIM)
    rng = np.random.default_rng(4)
    q = rng.normal(size=DIM).astype(np.float32)
    near = q + 0.3 * rng.normal(size=(40, DIM))
    far = -q + rng.normal(size=(3, DIM))
    ids = [f"one-{i}" for i in range(40)] + ["true-0", "true-1", "true-2"]
    x = np.vstack([near, far]).astype(np.float32)
    store.add(ids, x, "text", [{"flag": 1}] * 40 + [{"flag": True}] * 3)
    keep = np.array([i.startswith("true") for i in ids])
    assert_hits(store.search(q, k=3, where={"flag": True}), numpy_topk(x, ids, q[None], 3, keep))


def test_callable_where(filled):
    store, (ids, x, _, meta) = filled
    q = np.random.default_rng(5).normal(size=(2, DIM)).astype(np.float32)
    keep = np.array([m["i"] % 5 == 0 for m in meta])
    assert_hits(store.search(q, k=4, where=lambda m: m["i"] % 5 == 0), numpy_topk(x, ids, q, 4, keep))


def test_accepts(filled):
    store, _ = filled
    need(store, "accepts")
    asked = ["doc-0", "doc-1", "doc-3", "unknown", "doc-6"]
    np.testing.assert_array_equal(store.accepts(asked), [True, True, True, False, True])
    np.testing.assert_array_equal(store.accepts(asked, modality="text"), [True, False, True, False, True])
    np.testing.assert_array_equal(store.accepts(asked, modality=["text"], where={"even": True}),
                                  [True, False, False, False, True])
    np.testing.assert_array_equal(store.accepts(asked, where=lambda m: m["i"] > 2), [False, False, True, False, True])


def test_bad_batch_changes_nothing(filled):
    store, _ = filled
    good = np.ones((2, DIM), np.float32)
    bad_calls = [
        (ValueError, (["a", "b"], np.ones((2, DIM + 1)), "text")),
        (ValueError, (["a", "b"], np.vstack([good[0], np.zeros(DIM)]), "text")),
        (ValueError, (["a", "a"], good, "text")),
        (ValueError, (["a", "b"], good, "text", [{"x": float("nan")}, None])),
        (TypeError, (["a", "b"], good, "text", [{1: "non-string key"}, None])),
        (ValueError, (["a", ""], good, "text")),
        (ValueError, (["a", "b"], good, ["text", ""])),
    ]
    for error, args in bad_calls:
        with pytest.raises(error):
            store.add(*args)
    assert len(store) == 60 and "a" not in store


def test_empty_store_searches_to_nothing(new_store):
    store = new_store(DIM)
    assert len(store) == 0
    assert store.search(np.ones((2, DIM), np.float32), k=3) == [[], []]


def test_save_load_round_trip(filled, kind, tmp_path):
    store, (_, x, _, _) = filled
    q = np.random.default_rng(6).normal(size=(3, DIM)).astype(np.float32)
    before = store.search(q, k=5, modality=["code", "text"], where={"even": True})
    store.save(tmp_path / "index")
    if hasattr(store, "close"):
        store.close()
    again = load_store(kind, tmp_path / "index", expected_dim=DIM)
    try:
        assert len(again) == 60 and again.model == {"name": "test-model"}
        assert again.search(q, k=5, modality=["code", "text"], where={"even": True}) == before
        np.testing.assert_array_equal(again.vectors(["doc-9"])[0], x[9])
    finally:
        if hasattr(again, "close"):
            again.close()
    with pytest.raises(ModelMismatchError):
        load_store(kind, tmp_path / "index", expected_dim=DIM + 1)
    view = load_store(kind, tmp_path / "index", view=True)
    try:
        assert view.read_only
        with pytest.raises(ReadOnlyIndexError):
            view.add(["new"], np.ones((1, DIM)), "text")
        with pytest.raises(ReadOnlyIndexError):
            view.remove("doc-0")
        assert len(view) == 60
    finally:
        if hasattr(view, "close"):
            view.close()
