"""VectorIndex refuses, by name, what it could not save or score (issue 12 items 4, 7-11).

Each test here failed before its fix: add() accepted what save() could not write, a where callable that
touched the index deadlocked, hand-edited manifests loaded, numeric edge cases scored 0 or broke the graph.
"""

from __future__ import annotations

import errno
import json
import random
import re
import threading

import numpy as np
import pytest
import torch

from unret.errors import IndexCorruptError
from unret.index import VectorIndex, storage
from unret.index.validate import METADATA_MAX_BYTES

pytestmark = pytest.mark.usefixtures("one_thread")


def unit(n: int, dim: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def small(n: int = 50, dim: int = 8, **kw) -> VectorIndex:
    ix = VectorIndex(dim, **kw)
    ix.add([f"d{i}" for i in range(n)], unit(n, dim), "text", [{"i": i} for i in range(n)])
    return ix


# ------------------------------------------------------------------------ item 4: add() vs save()

UNSAVEABLE = [
    ("lone surrogate id", dict(ids=["a\udcff"]), re.escape(repr("a\udcff"))),
    ("lone surrogate metadata value", dict(metadata=[{"t": "x\udcff"}]), "id 'new'"),
    ("lone surrogate metadata key", dict(metadata=[{"k\ud800": 1}]), "id 'new'"),
    ("lone surrogate modality", dict(modalities="te\udcffxt"), "modality of id 'new'"),
    ("huge metadata", dict(metadata=[{"blob": "x" * (METADATA_MAX_BYTES + 1)}]), f"id 'new'.*{METADATA_MAX_BYTES}"),
]


@pytest.mark.parametrize(("case", "override", "message"), UNSAVEABLE, ids=[c[0] for c in UNSAVEABLE])
def test_add_refuses_what_save_could_not_write_and_the_index_stays_saveable(tmp_path, case, override, message):
    ix = small()
    args = dict(ids=["new"], vectors=unit(1, 8, seed=1), modalities="text", metadata=[{"ok": 1}])
    args.update(override)
    with pytest.raises(ValueError, match=message):
        ix.add(**args)
    assert len(ix) == 50 and "new" not in ix
    ix.save(tmp_path / "ix")
    assert len(VectorIndex.load(tmp_path / "ix")) == 50


# ------------------------------------------------------------------------ item 7: where callables


def test_a_where_callable_may_read_the_index_it_filters():
    ix = small()
    out: dict = {}

    def run():
        out["hits"] = ix.search(unit(1, 8, seed=2), k=5, where=lambda m: ix.get(f"d{m['i']}")[1]["i"] % 2 == 0)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout=30)
    assert not t.is_alive(), "search with a where callable that calls get() deadlocked"
    assert len(out["hits"][0]) == 5 and all(h.metadata["i"] % 2 == 0 for h in out["hits"][0])
    with pytest.raises(RuntimeError, match="may not add to or remove"):
        ix.search(unit(1, 8), k=3, where=lambda m: ix.remove(["d1"]) > 0)
    assert len(ix) == 50


# ------------------------------------------------------------------------ item 8: the manifest


def _edit(path, change) -> None:
    m = json.loads((path / "manifest.json").read_text())
    change(m)
    (path / "manifest.json").write_text(json.dumps(m))


EDITS = {
    "metric": lambda m: m.update(metric="ip"),
    "first_key": lambda m: m["shards"][0].update(first_key=5),
    "next_key": lambda m: m.update(next_key=3),
    "file list": lambda m: m["files"].pop("vectors.npy"),
    "shard path outside": lambda m: m["shards"][0].update(file="../../../../etc/hostname"),
    "count": lambda m: m.update(count=49),
}


# A consistent manifest with another metric is a deliberate choice: only its unfixed checksum is damage.
EDIT_CASES = [(f, False) for f in EDITS] + [(f, True) for f in EDITS if f != "metric"]


@pytest.mark.parametrize(("field", "rechecksum"), EDIT_CASES, ids=[f"{f}-{r}" for f, r in EDIT_CASES])
def test_hand_edited_manifest_is_refused(tmp_path, field, rechecksum):
    ix = small(shard_size=20)
    ix.save(tmp_path / "ix")
    _edit(tmp_path / "ix", EDITS[field])
    if rechecksum:  # a deliberate edit with a recomputed checksum still has to make sense
        _edit(tmp_path / "ix", lambda m: m.update(manifest_sha256=storage._self_sha256(m)))
    with pytest.raises(IndexCorruptError, match="manifest"):
        VectorIndex.load(tmp_path / "ix")


def test_random_byte_flips_in_the_manifest_never_give_a_bare_error_or_other_results(tmp_path):
    ix = small(shard_size=20)
    path = tmp_path / "ix"
    ix.save(path)
    q = unit(5, 8, seed=3)
    expected = [[(h.id, h.score) for h in hits] for hits in ix.search(q, k=5)]
    data = (path / "manifest.json").read_bytes()
    rng = random.Random(0)
    outcomes = {"refused": 0, "identical": 0}
    for _ in range(300):
        flipped = bytearray(data)
        flipped[rng.randrange(len(data))] ^= rng.randrange(1, 256)
        (path / "manifest.json").write_bytes(bytes(flipped))
        try:
            loaded = VectorIndex.load(path)
        except IndexCorruptError:
            outcomes["refused"] += 1
            continue
        assert [[(h.id, h.score) for h in hits] for hits in loaded.search(q, k=5)] == expected
        outcomes["identical"] += 1
    assert outcomes["refused"] >= 250, outcomes  # only flips JSON ignores (e.g. in whitespace) may load


# ------------------------------------------------------------------------ item 9: numbers


def test_extreme_but_finite_vector_scales_score_exactly():
    x = unit(20, 16, seed=4)
    ix = VectorIndex(16, dtype="f32")
    ix.add([f"d{i}" for i in range(20)], x, "text")
    ix.add(["huge", "tiny"], np.stack([x[0] * 1e20, x[1] * 1e-23]), "text")
    for exact in (False, True):  # as stored vectors and as queries (1e20² overflows float32, 1e-23² underflows)
        hits = ix.search(np.stack([x[0] * 1e20, x[1] * 1e-23]), k=2, exact=exact)
        assert {h.id for h in hits[0]} == {"d0", "huge"} and {h.id for h in hits[1]} == {"d1", "tiny"}
        assert [h.score for hs in hits for h in hs] == pytest.approx([1.0] * 4, abs=1e-5)
    with pytest.raises(ValueError, match="'too-big' has norm"):
        ix.add(["too-big"], x[:1] * 1e37, "text")


def test_a_vector_beyond_float16_range_does_not_damage_an_f16_graph():
    x = unit(500, 32, seed=5)
    ix = VectorIndex(32, dtype="f16")
    ix.add([f"d{i}" for i in range(500)], x, "text")
    ix.add(["loud"], unit(1, 32, seed=6) * 1e6, "text")
    found = [hits[0].id == f"d{i}" for i, hits in enumerate(ix.search(x, k=1))]
    assert sum(found) >= 495, f"{500 - sum(found)} of 500 self-searches missed"
    assert ix.search(unit(1, 32, seed=6), k=1)[0][0].id == "loud"
    ip = VectorIndex(32, metric="ip", dtype="f16")
    with pytest.raises(ValueError, match="'loud' has values beyond float16"):
        ip.add(["loud"], unit(1, 32, seed=6) * 1e6, "text")


def test_complex_input_is_refused_not_truncated():
    ix = small()
    z = unit(1, 8).astype(np.complex64) * (1 + 1j)
    for bad in (z, torch.from_numpy(z)):
        with pytest.raises(TypeError, match="real"):
            ix.add(["c"], bad, "text")
        with pytest.raises(TypeError, match="real"):
            ix.search(bad)
    assert "c" not in ix


# ------------------------------------------------------------------------ item 10: clear errors


def test_deeply_nested_metadata_is_refused_by_id_not_recursion_error():
    deep: dict = {}
    node = deep
    for _ in range(100_000):
        node["x"] = {}
        node = node["x"]
    ix = small()
    with pytest.raises(ValueError, match="metadata of id 'deep' is nested deeper"):
        ix.add(["deep"], unit(1, 8), "text", [deep])


def test_k_larger_than_the_index_returns_every_item():
    ix = small()
    q = unit(2, 8, seed=7)
    for kw in ({}, {"exact": True}, {"where": {"i": 3}}, {"modality": "text"}):
        hits = ix.search(q, k=2**31, **kw)
        assert [len(h) for h in hits] == [1 if "where" in kw else 50] * 2


def test_disk_full_names_the_path_and_keeps_the_previous_save(tmp_path, monkeypatch):
    ix = small()
    path = tmp_path / "ix"
    ix.save(path)
    ix.add(["more"], unit(1, 8, seed=8), "text")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "save", full)
    with pytest.raises(OSError, match=f"cannot save the index to {re.escape(str(path))}: no space left on device"):
        ix.save(path)
    monkeypatch.undo()
    assert len(VectorIndex.load(path)) == 50
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ix"]


# ------------------------------------------------------------------------ item 11: metadata


def test_non_string_metadata_keys_are_refused():
    ix = small()
    for meta in ({1: "one", "1": "str"}, {True: "t"}, {"nested": {2: "x"}}, {"list": [{None: 1}]}):
        with pytest.raises(TypeError, match="metadata of id 'k' has a non-string key"):
            ix.add(["k"], unit(1, 8), "text", [meta])
    assert "k" not in ix


def test_where_dict_compares_with_type():
    ix = VectorIndex(8)
    values = {"bool": True, "one": 1, "float": 1.0, "str": "1", "list": [1, True], "none": None}
    ix.add(list(values), unit(len(values), 8), "text", [{"x": v} for v in values.values()])
    q = unit(1, 8, seed=9)

    def ids(value):
        return sorted(h.id for h in ix.search(q, k=10, where={"x": value})[0])

    assert ids(True) == ["bool"]
    assert ids(1) == ["float", "one"]  # JSON has one number type
    assert ids("1") == ["str"]
    assert ids([1, True]) == ["list"] and ids([1, 1]) == [] and ids((1, True)) == ["list"]
    assert ids(None) == ["none"] and ids(False) == []
