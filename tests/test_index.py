"""VectorIndex: recall against exact search, filters, upsert/remove, atomic save/load, threads, validation.

Every expectation is recomputed independently with numpy (exact cosine / inner product top-k).
"""

from __future__ import annotations

import json
import os
import sys
import threading

import numpy as np
import pytest
import torch

from unret.index import Hit, IndexCorruptError, ManifestMismatchError, VectorIndex, planner, storage, usearch_backend
from unret.index.catalog import Catalog

MODALITIES = ["text", "code", "image", "image+text"]


@pytest.fixture(params=["usearch", "toy"])
def backend(request):
    """The ANN backend: usearch (the default) and a toy exact one (tests/toy_backend.py) that proves the
    backend protocol is all ``VectorIndex`` needs."""
    if request.param == "toy":
        import tests.toy_backend  # noqa: F401  (registers "toy")
    return request.param


def lowrank(n: int, dim: int, seed: int, rank: int = 32, noise: float = 0.3) -> np.ndarray:
    """Embedding-like vectors: normalise(Z @ W + noise), Z ~ N(0, I_rank); the same W for every call."""
    w = np.random.default_rng(1234).standard_normal((rank, dim)) / np.sqrt(rank)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, rank)) @ w + noise * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def exact_topk(x: np.ndarray, q: np.ndarray, k: int, metric: str = "cos") -> tuple[np.ndarray, np.ndarray]:
    """Reference top-k rows and scores in float64 numpy."""
    x, q = x.astype(np.float64), q.astype(np.float64)
    if metric == "cos":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
    s = q @ x.T
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return top, np.take_along_axis(s, top, axis=1)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def build(n: int = 1500, dim: int = 32, seed: int = 0, **kw) -> tuple[VectorIndex, dict]:
    """A small index and the test's own record of it: id -> (vector, modality, metadata)."""
    x = lowrank(n, dim, seed)
    rng = np.random.default_rng(seed)
    ids = [f"doc{i}" for i in range(n)]
    mods = [MODALITIES[m] for m in rng.choice(4, size=n, p=[0.6, 0.3, 0.09, 0.01])]
    metas = [{"i": i, "lang": ["py", "rs", "md"][i % 3], "rare": i % 97 == 0} for i in range(n)]
    ix = VectorIndex(dim, **kw)
    ix.add(ids, x, mods, metas)
    return ix, {i: (v, m, md) for i, v, m, md in zip(ids, x, mods, metas, strict=True)}


def snapshot(ix: VectorIndex) -> dict:
    ids = sorted(ix.ids())
    return {"ids": ids, "vecs": ix.vectors(ids), "rows": [ix.get(i) for i in ids]}


def as_tuples(results: list[list[Hit]]) -> list[list[tuple]]:
    return [[(h.id, h.score, h.modality, json.dumps(h.metadata)) for h in hits] for hits in results]


def recall_at(results: list[list[Hit]], truth: np.ndarray, row_of) -> float:
    """Mean fraction of each query's true top-k rows found; ``row_of`` maps a hit id to its row."""
    return float(np.mean([len({row_of(h.id) for h in hits} & set(t.tolist())) / len(t)
                          for hits, t in zip(results, truth, strict=True)]))


def check_hits(hits: list[Hit], truth: dict, q: np.ndarray, k: int) -> None:
    """Hits are unique, sorted by score, at most k, and each score is the exact cosine to the query."""
    assert len(hits) <= k
    assert len({h.id for h in hits}) == len(hits)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    for h in hits:
        vec, mod, meta = truth[h.id]
        assert h.modality == mod and h.metadata == meta
        assert h.score == pytest.approx(cosine(vec, q), abs=1e-5)


# ---------------------------------------------------------------------------- recall


def test_hnsw_recall_at_10_against_exact_on_20k_structured_vectors():
    n, dim = 20_000, 384
    x = lowrank(n, dim, seed=0)
    q = lowrank(200, dim, seed=1)
    ix = VectorIndex(dim, expansion_search=128)
    ix.add([str(i) for i in range(n)], x, "text")
    truth, truth_scores = exact_topk(x, q, 10)

    recall = recall_at(ix.search(q, k=10), truth, lambda i: int(i))
    assert recall >= 0.98, f"HNSW recall@10 {recall:.4f}"
    # The structure is real: true neighbours are far closer than a random pair (cosine ~0 at 384-d).
    assert truth_scores[:, 0].mean() > 0.5

    exact = ix.search(q, k=10, exact=True)
    for hits, t, s in zip(exact, truth, truth_scores, strict=True):
        assert [int(h.id) for h in hits] == list(t)
        np.testing.assert_allclose([h.score for h in hits], s, atol=1e-5)


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16", "i8"])
def test_quantised_dtypes_keep_recall_and_report_exact_scores(dtype):
    ix, truth = build(2000, 64, dtype=dtype)
    x = np.stack([truth[f"doc{i}"][0] for i in range(2000)])
    q = lowrank(50, 64, seed=7)
    ref, _ = exact_topk(x, q, 10)
    results = ix.search(q, k=10)
    assert recall_at(results, ref, lambda i: int(i[3:])) >= 0.9
    for hits, qi in zip(results, q, strict=True):
        check_hits(hits, truth, qi, 10)  # scores re-computed in float32, not the quantised distances


def test_auto_dtype_is_the_fastest_accelerated_one_and_persists(tmp_path, monkeypatch):
    assert VectorIndex(8).dtype == usearch_backend.fastest_dtype("cos")
    ix, _ = build(50, 8)
    ix.save(tmp_path / "ix")
    assert VectorIndex.load(tmp_path / "ix").dtype == ix.dtype  # the resolved dtype, not "auto"

    serial: set[str] = set()

    class FakeIndex:  # reports usearch's scalar fallback for the dtypes in ``serial``
        def __init__(self, ndim, metric, dtype):
            self.hardware_acceleration = "serial" if dtype in serial else "avx2"

    monkeypatch.setattr(usearch_backend, "Index", FakeIndex)
    pick = usearch_backend.fastest_dtype.__wrapped__
    for scalar_only, expected in ((set(), "bf16"), ({"bf16"}, "f16"), ({"bf16", "f16"}, "f32")):
        serial.clear()
        serial.update(scalar_only)
        assert pick("cos") == expected


def test_inner_product_metric_scores_are_dot_products(backend):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((500, 16)) * rng.uniform(0.5, 3, (500, 1))).astype(np.float32)
    q = rng.standard_normal((20, 16)).astype(np.float32)
    ix = VectorIndex(16, metric="ip", backend=backend)
    ix.add([str(i) for i in range(500)], x, "code")
    ref, ref_scores = exact_topk(x, q, 5, metric="ip")
    for hits, r, s in zip(ix.search(q, k=5, exact=True), ref, ref_scores, strict=True):
        assert [int(h.id) for h in hits] == list(r)
        np.testing.assert_allclose([h.score for h in hits], s, rtol=1e-5)
    for hits, qi in zip(ix.search(q, k=5), q, strict=True):
        np.testing.assert_allclose([h.score for h in hits], [x[int(h.id)] @ qi for h in hits], rtol=1e-5)


def test_torch_and_single_vector_inputs(backend):
    ix, truth = build(300, 16, backend=backend)
    q = truth["doc7"][0]
    one = ix.search(q, k=3)
    assert len(one) == 1 and one[0][0].id == "doc7" and one[0][0].score == pytest.approx(1.0, abs=1e-5)
    assert as_tuples(ix.search(torch.from_numpy(q).to(torch.float64)[None], k=3)) == as_tuples(one)
    ix.add(["t"], torch.from_numpy(q * 2)[None], "text")
    assert ix.search(q, k=2)[0][1].score == pytest.approx(1.0, abs=1e-5)


# ---------------------------------------------------------------------------- filters


@pytest.fixture(params=["over-fetch", "exact fallback"])
def filter_path(request, monkeypatch):
    """Force one of the two filtered-search paths (at 3,000 items the cost model mostly picks exact)."""
    monkeypatch.setattr(planner, "_HNSW_PER_FETCH", 1e-6 if request.param == "over-fetch" else 1e9)
    calls = {"candidates": 0}
    real = VectorIndex._candidates

    def counting(self, *args):
        calls["candidates"] += 1
        return real(self, *args)

    monkeypatch.setattr(VectorIndex, "_candidates", counting)
    yield request.param
    assert (calls["candidates"] > 0) == (request.param == "over-fetch")


def test_modality_filter_never_returns_a_wrong_modality(filter_path, backend):
    ix, truth = build(3000, 32, seed=5, backend=backend)
    x = np.stack([v for v, _, _ in truth.values()])
    mods = np.array([m for _, m, _ in truth.values()])
    ids = np.array(list(truth))
    rng = np.random.default_rng(11)
    for trial in range(60):
        allowed = list(rng.choice([*MODALITIES, "audio"], size=rng.integers(1, 4), replace=False))
        k = int(rng.integers(1, 30))
        q = lowrank(3, 32, seed=100 + trial)
        modality = allowed[0] if len(allowed) == 1 else set(allowed)
        mask = np.isin(mods, allowed)
        ref, _ = exact_topk(x[mask], q, k)
        for hits, qi, r in zip(ix.search(q, k=k, modality=modality), q, ref, strict=True):
            assert all(h.modality in allowed for h in hits), (allowed, [h.modality for h in hits])
            assert len(hits) == min(k, int(mask.sum()))
            check_hits(hits, truth, qi, k)
            # HNSW path or exact fallback: either way close to the exact filtered answer.
            assert len({h.id for h in hits} & set(ids[mask][r])) >= 0.8 * len(hits)
        exact = ix.search(q, k=k, modality=modality, exact=True)
        assert [[h.id for h in hits] for hits in exact] == [list(ids[mask][r]) for r in ref]


def test_selective_modality_filter_is_exact(monkeypatch):
    ix, truth = build(3000, 32, seed=5)
    monkeypatch.setattr(VectorIndex, "_candidates", None)  # the cost model must not touch HNSW here
    image_text = [i for i, (_, m, _) in truth.items() if m == "image+text"]  # ~1% of the corpus
    x = np.stack([truth[i][0] for i in image_text])
    q = lowrank(20, 32, seed=9)
    ref, _ = exact_topk(x, q, 10)
    got = [[h.id for h in hits] for hits in ix.search(q, k=10, modality="image+text")]
    assert got == [[image_text[j] for j in r] for r in ref]


def test_where_filter_dict_and_callable(filter_path, backend):
    ix, truth = build(3000, 32, seed=2, backend=backend)
    ids = list(truth)
    x = np.stack([truth[i][0] for i in ids])
    q = lowrank(10, 32, seed=4)
    cases = [
        ({"lang": "rs"}, lambda m: m["lang"] == "rs"),  # a third of the corpus: over-fetch path
        ({"rare": True}, lambda m: m["rare"]),  # ~1%: exact fallback
        ({"lang": "py", "rare": True}, lambda m: m["lang"] == "py" and m["rare"]),
        (lambda m: m["i"] % 5 == 1, lambda m: m["i"] % 5 == 1),
    ]
    for where, pred in cases:
        mask = np.array([pred(truth[i][2]) for i in ids])
        ref, _ = exact_topk(x[mask], q, 10)
        results = ix.search(q, k=10, where=where)
        for hits, qi, r in zip(results, q, ref, strict=True):
            assert all(pred(h.metadata) for h in hits)
            assert len(hits) == min(10, int(mask.sum()))
            check_hits(hits, truth, qi, 10)
            assert len({h.id for h in hits} & {ids[j] for j in np.flatnonzero(mask)[r]}) >= 8
    assert ix.search(q, k=5, where={"missing_key": 1}) == [[] for _ in q]
    both = ix.search(q, k=10, modality="code", where={"lang": "md"})
    assert all(h.modality == "code" and h.metadata["lang"] == "md" for hits in both for h in hits)


# ---------------------------------------------------------------------------- writes


def test_remove_and_upsert_semantics(backend):
    ix, truth = build(800, 32, backend=backend)
    old_vec = truth["doc5"][0]
    assert ix.remove(["doc3", "doc4"]) == 2
    assert len(ix) == 798 and "doc3" not in ix
    with pytest.raises(KeyError, match="doc3"):
        ix.get("doc3")
    assert all(h.id not in {"doc3", "doc4"} for h in ix.search(truth["doc3"][0], k=50)[0])

    new_vec = lowrank(1, 32, seed=99)[0]
    ix.add(["doc5"], new_vec[None], ["image"], [{"caption": "new"}])
    assert len(ix) == 798
    assert ix.get("doc5") == ("image", {"caption": "new"})
    np.testing.assert_array_equal(ix.vectors(["doc5"])[0], new_vec)
    top = ix.search(new_vec, k=1)[0][0]
    assert (top.id, top.modality, top.metadata) == ("doc5", "image", {"caption": "new"})
    assert top.score == pytest.approx(1.0, abs=1e-5)
    # The old vector is gone: searching it scores doc5 at its new vector's similarity, not 1.
    for hits in (ix.search(old_vec, k=800)[0], ix.search(old_vec, k=800, exact=True)[0]):
        doc5 = [h for h in hits if h.id == "doc5"]
        assert len(doc5) == 1 and doc5[0].score == pytest.approx(cosine(old_vec, new_vec), abs=1e-5)
    assert sum(1 for _ in ix.ids()) == 798


def test_remove_unknown_id_raises_and_removes_nothing(backend):
    ix, _ = build(100, 16, backend=backend)
    before = snapshot(ix)
    with pytest.raises(KeyError, match="nope"):
        ix.remove(["doc1", "nope", "doc2"])
    after = snapshot(ix)
    assert after["ids"] == before["ids"] and after["rows"] == before["rows"]
    assert ix.search(ix.vectors(["doc1"])[0], k=1)[0][0].id == "doc1"


def test_keys_are_never_reused_across_removes_saves_and_loads(tmp_path, backend):
    ix, _ = build(200, 16, backend=backend)
    ix.remove([f"doc{i}" for i in range(0, 200, 2)])
    extra = lowrank(100, 16, seed=50)
    ix.add([f"new{i}" for i in range(50)], extra[:50], "code")
    ix.save(tmp_path / "ix")
    ix = VectorIndex.load(tmp_path / "ix")
    ix.add([f"new{i}" for i in range(50, 100)], extra[50:], "code")
    ix.add(["doc1"], extra[:1] * -1, "text")  # upsert after load
    assert len(ix) == 200
    ids = sorted(ix.ids())
    exact = ix.search(ix.vectors(ids), k=1, exact=True)
    assert [hits[0].id for hits in exact] == ids
    # HNSW finds (nearly) every item from its own vector; a reused or mis-mapped key would break this
    # wholesale. Not all: tombstones of the 101 removed items weaken the graph, as in any HNSW.
    found = [hits[0].id == i for i, hits in zip(ids, ix.search(ix.vectors(ids), k=1), strict=True)]
    assert np.mean(found) >= 0.97


BAD_ADDS = [
    ("wrong dimension", dict(vectors=np.ones((2, 15), np.float32)), "expected 16, got 15"),
    ("nan", dict(vectors=np.array([[1.0] * 16, [np.nan] + [1.0] * 15], np.float32)), "'new1' contains NaN"),
    ("inf", dict(vectors=np.array([[np.inf] * 16, [1.0] * 16])), "'doc0' contains NaN or inf"),
    ("1-d vectors", dict(vectors=np.ones(16, np.float32)), "shape"),
    ("too few vectors", dict(vectors=np.ones((1, 16), np.float32)), "2 ids but 1 vectors"),
    ("too few modalities", dict(modalities=["text"]), "2 ids but 1 modalities"),
    ("empty modality", dict(modalities=["text", ""]), "modality of id 'new1'"),
    ("too few metadata", dict(metadata=[{}]), "2 ids but 1 metadata"),
    ("duplicate ids", dict(ids=["doc0", "doc0"]), "duplicate ids"),
    ("empty id", dict(ids=["", "x"]), "non-empty string"),
    ("int id", dict(ids=[3, "x"]), "non-empty string"),
    ("single string ids", dict(ids="ab"), "not a single string"),
    ("set metadata", dict(metadata=[{}, {"s": {1, 2}}]), "metadata of id 'new1' is not JSON-serialisable"),
    ("nan metadata", dict(metadata=[{"x": float("nan")}, {}]), "metadata of id 'doc0'"),
    ("list metadata", dict(metadata=[[1], {}]), "metadata of id 'doc0' must be a dict"),
    ("zero vector", dict(vectors=np.zeros((2, 16), np.float32)), "is zero"),
]


@pytest.mark.parametrize(("case", "override", "message"), BAD_ADDS, ids=[c[0] for c in BAD_ADDS])
def test_bad_add_raises_and_changes_nothing(case, override, message, backend):
    ix, _ = build(50, 16, backend=backend)
    before = snapshot(ix)
    args = dict(ids=["doc0", "new1"], vectors=lowrank(2, 16, seed=8), modalities=["text", "code"],
                metadata=[{"a": 1}, {"b": 2}])  # doc0 exists: a valid call would upsert it
    args.update(override)
    with pytest.raises((ValueError, TypeError), match=message):
        ix.add(**args)
    after = snapshot(ix)
    assert after["ids"] == before["ids"] and after["rows"] == before["rows"]
    np.testing.assert_array_equal(after["vecs"], before["vecs"])


def test_bad_search_and_constructor_arguments():
    ix, _ = build(50, 16)
    q = np.ones(16, np.float32)
    for kwargs, message in [
        (dict(queries=np.ones((2, 8))), "expected 16, got 8"),
        (dict(queries=np.full(16, np.nan)), "NaN or inf"),
        (dict(queries=np.zeros(16)), "zero vector"),
        (dict(queries=np.ones((2, 2, 16))), "shape"),
        (dict(queries=["a"] * 16), "numeric"),
        (dict(queries=q, k=0), "k must be a positive integer"),
        (dict(queries=q, k=2.5), "k must be a positive integer"),
        (dict(queries=q, modality=[1]), "modality"),
        (dict(queries=q, where=3), "where"),
    ]:
        with pytest.raises((ValueError, TypeError), match=message):
            ix.search(**kwargs)
    for kwargs, message in [
        (dict(dim=0), "dim"),
        (dict(dim=8, metric="l2"), "metric"),
        (dict(dim=8, dtype="f64"), "dtype"),
        (dict(dim=8, dtype="i8", metric="ip"), "cosine"),
        (dict(dim=8, shard_size=0), "shard_size"),
        (dict(dim=8, model={"x": object()}), "model"),
        (dict(dim=8, expansion_search=-1), "expansion_search"),
    ]:
        with pytest.raises((ValueError, TypeError), match=message):
            VectorIndex(**kwargs)


# ---------------------------------------------------------------------------- sharding


def test_sharding_splits_and_matches_unsharded():
    sharded, truth = build(1000, 32, shard_size=300)
    plain, _ = build(1000, 32)
    assert sharded.num_shards == 4
    q = lowrank(30, 32, seed=12)
    assert as_tuples(sharded.search(q, k=10, exact=True)) == as_tuples(plain.search(q, k=10, exact=True))
    x = np.stack([truth[f"doc{i}"][0] for i in range(1000)])
    ref, _ = exact_topk(x, q, 10)
    assert recall_at(sharded.search(q, k=10), ref, lambda i: int(i[3:])) >= 0.95
    sharded.add(["doc1"], x[999:1000] * 3, "code")  # upsert leaves shard 0, lands in the last shard
    sharded.remove(["doc0"])
    assert len(sharded) == 999 and sharded.num_shards == 4
    hits = sharded.search(x[999], k=2)[0]
    assert {h.id for h in hits} == {"doc1", "doc999"}


# ---------------------------------------------------------------------------- persistence


@pytest.mark.parametrize("view", [False, True])
@pytest.mark.parametrize("shard_size", [None, 400])
def test_save_load_gives_identical_results(tmp_path, view, shard_size, backend):
    model = {"name": "tiny", "revision": "abc", "dim": 32}
    ix, _ = build(1000, 32, shard_size=shard_size, model=model, expansion_search=40, backend=backend)
    ix.remove(["doc10"])
    ix.add(["doc11"], lowrank(1, 32, seed=3), "image", [{"re": "added"}])
    q = lowrank(25, 32, seed=21)
    queries = [{"k": 10}, {"k": 5, "modality": "image"}, {"k": 7, "where": {"lang": "md"}},
               {"k": 10, "exact": True}]
    before = [as_tuples(ix.search(q, **kw)) for kw in queries]
    ix.save(tmp_path / "ix")
    manifest = json.loads((tmp_path / "ix" / "manifest.json").read_text())
    assert manifest["count"] == 999 and manifest["model"] == model and manifest["dim"] == 32
    assert len(manifest["shards"]) == (3 if shard_size else 1)

    loaded = VectorIndex.load(tmp_path / "ix", view=view, expected_model=model, expected_dim=32)
    assert loaded.expansion_search == 40  # usearch forgets it; the manifest does not
    assert [as_tuples(loaded.search(q, **kw)) for kw in queries] == before
    assert snapshot(loaded)["rows"] == snapshot(ix)["rows"]
    np.testing.assert_array_equal(snapshot(loaded)["vecs"], snapshot(ix)["vecs"])
    if view:
        with pytest.raises(RuntimeError, match="view=True"):
            loaded.add(["z"], q[:1], "text")
        with pytest.raises(RuntimeError, match="view=True"):
            loaded.remove(["doc1"])
        assert len(loaded) == 999


def test_empty_index_round_trip(tmp_path, backend):
    ix = VectorIndex(8, backend=backend)
    ix.add([], np.empty((0, 8), np.float32), [])
    ix.save(tmp_path / "ix")
    for view in (False, True):
        assert VectorIndex.load(tmp_path / "ix", view=view).search(np.ones((2, 8)), k=3) == [[], []]
    loaded = VectorIndex.load(tmp_path / "ix")
    loaded.add(["a"], np.ones((1, 8)), "text")
    assert [h.id for h in loaded.search(np.ones(8), k=3)[0]] == ["a"]


def _fail_on_call(n: int, real):
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise OSError(f"injected failure on call {n}")
        return real(*args, **kwargs)

    return wrapper


INJECTIONS = {
    "usearch save": lambda mp: mp.setattr(usearch_backend.Index, "save", _fail_on_call(2, usearch_backend.Index.save)),
    "vectors": lambda mp: mp.setattr(np, "save", _fail_on_call(1, np.save)),
    "catalog": lambda mp: mp.setattr(Catalog, "write_sqlite", _fail_on_call(1, Catalog.write_sqlite)),
    "checksum": lambda mp: mp.setattr(storage, "_sha256", _fail_on_call(3, storage._sha256)),
    "fsync": lambda mp: mp.setattr(storage, "_fsync", _fail_on_call(4, storage._fsync)),
    "rename old aside": lambda mp: mp.setattr(os, "replace", _fail_on_call(1, os.replace)),
    "rename new in": lambda mp: mp.setattr(os, "replace", _fail_on_call(2, os.replace)),
}


@pytest.mark.parametrize("where", list(INJECTIONS))
def test_exception_during_save_keeps_previous_save_loadable(tmp_path, monkeypatch, where):
    ix, _ = build(600, 16, shard_size=250)
    path = tmp_path / "ix"
    ix.save(path)
    q = lowrank(10, 16, seed=1)
    saved = as_tuples(ix.search(q, k=5))
    ix.add([f"more{i}" for i in range(300)], lowrank(300, 16, seed=2), "code")
    ix.remove(["doc0"])
    assert as_tuples(ix.search(q, k=5)) != saved  # the new state differs, so the check below can fail

    INJECTIONS[where](monkeypatch)
    with pytest.raises(OSError, match="injected"):
        ix.save(path)
    monkeypatch.undo()

    old = VectorIndex.load(path)
    assert len(old) == 600 and "doc0" in old and "more0" not in old
    assert as_tuples(old.search(q, k=5)) == saved
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ix"]  # no temp dirs left behind
    ix.save(path)  # and the next save succeeds
    assert len(VectorIndex.load(path)) == 899


def test_load_refuses_damaged_files(tmp_path):
    ix, _ = build(300, 16)
    path = tmp_path / "ix"
    ix.save(path)
    shard = path / "shard-00000.usearch"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexCorruptError, match=r"shard-00000\.usearch is truncated"):
        VectorIndex.load(path)

    ix.save(path)
    catalog = path / "catalog.sqlite"
    data = bytearray(catalog.read_bytes())
    data[-100] ^= 0xFF  # same size, one byte flipped
    catalog.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match=r"catalog\.sqlite is corrupt: sha256"):
        VectorIndex.load(path)

    ix.save(path)
    (path / "vectors.npy").unlink()
    with pytest.raises(IndexCorruptError, match=r"vectors\.npy is missing"):
        VectorIndex.load(path)

    with pytest.raises(IndexCorruptError, match="no saved index"):
        VectorIndex.load(tmp_path / "elsewhere")
    ix.save(path)
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(IndexCorruptError, match="not valid JSON"):
        VectorIndex.load(path)


def test_load_refuses_wrong_dimension_or_model(tmp_path, backend):
    ix, _ = build(100, 16, model={"name": "minilm", "dim": 16}, backend=backend)
    ix.save(tmp_path / "ix")
    with pytest.raises(ManifestMismatchError, match="has dim 16, expected dim 384"):
        VectorIndex.load(tmp_path / "ix", expected_dim=384)
    with pytest.raises(ManifestMismatchError, match=r"model \{'name': 'minilm', 'dim': 16\}.*'name': 'qwen'"):
        VectorIndex.load(tmp_path / "ix", expected_model={"name": "qwen", "dim": 16})
    same = VectorIndex.load(tmp_path / "ix", expected_dim=16, expected_model={"name": "minilm", "dim": 16})
    assert len(same) == 100


# ---------------------------------------------------------------------------- threads


def test_concurrent_searches_while_another_thread_writes(backend):
    dim, rounds, per_round = 32, 300, 10
    ix, truth = build(1000, dim, backend=backend)
    vecs = lowrank(rounds * per_round, dim, seed=200)
    new = [(f"r{r}-{i}", vecs[r * per_round + i]) for r in range(rounds) for i in range(per_round)]
    for i, v in new:
        truth[i] = (v, "code", {"lang": "py", "round": i.split("-")[0]})
    errors: list[BaseException] = []
    results: list[tuple[np.ndarray, list[Hit]]] = []
    done = threading.Event()

    def writer():  # small batches: many grow / swap-remove steps for readers to trip over
        try:
            for r in range(rounds):
                chunk = new[r * per_round : (r + 1) * per_round]
                ids = [i for i, _ in chunk]
                ix.add(ids, np.stack([v for _, v in chunk]), "code", [truth[i][2] for i in ids])
                ix.remove([f"doc{2 * r}", f"doc{2 * r + 1}"])
        except BaseException as e:
            errors.append(e)
        finally:
            done.set()

    def reader(seed):
        rng = np.random.default_rng(seed)
        try:
            while not done.is_set():
                q = lowrank(2, dim, seed=int(rng.integers(1 << 30)))
                kw = [{}, {"modality": "code"}, {"where": {"lang": "py"}}, {"exact": True}][rng.integers(4)]
                for qi, hits in zip(q, ix.search(q, k=10, **kw), strict=True):
                    results.append((qi, hits))
                    assert len(hits) == 10
        except BaseException as e:
            errors.append(e)

    readers = [threading.Thread(target=reader, args=(i,)) for i in range(3)]
    threads = [threading.Thread(target=writer), *readers]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads every few bytecodes, so unlocked races would show
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors
    assert len(ix) == 1000 + rounds * (per_round - 2)
    assert len(results) > 50
    for qi, hits in results:
        check_hits(hits, truth, qi, 10)
