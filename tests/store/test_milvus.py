"""What only the Milvus store has: specifications, the expression translator, paging, the exact-scan
fallbacks, credentials kept out of saved files, and its own limits (64-bit JSON integers)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from unret.errors import IndexCorruptError, ModelMismatchError
from unret.store import milvus_search
from unret.store.milvus_filter import quote, translate
from unret.store.milvus_spec import TOKEN_ENV, MilvusTarget, parse_spec
from unret.store.registry import kind_of, load_store, open_store

pytest.importorskip("milvus_lite", reason="milvus-lite has no wheel for this platform")


def lite(tmp_path, collection="c"):
    return f"milvus+lite://{tmp_path}/m.db?collection={collection}"


# ---------------------------------------------------------------------- specifications

def test_specs_parse_to_targets(tmp_path, monkeypatch):
    assert parse_spec("milvus://db.example:19530/docs") == MilvusTarget("http://db.example:19530", "docs")
    assert parse_spec("milvus+https://db.example/docs") == MilvusTarget("https://db.example", "docs")
    assert parse_spec("milvus://db.example:19530") == MilvusTarget("http://db.example:19530", "unret")
    assert parse_spec("milvus+lite:///abs/x.db?collection=k") == MilvusTarget("/abs/x.db", "k")
    monkeypatch.chdir(tmp_path)
    assert parse_spec("milvus+lite://rel/x.db").uri == str(tmp_path / "rel" / "x.db")
    for spec in ("milvus://db:19530/docs", "milvus+https://db/docs", "milvus+lite:///abs/x.db?collection=k"):
        assert parse_spec(parse_spec(spec).spec) == parse_spec(spec)
    assert {kind_of(s) for s in ("milvus://h/c", "milvus+lite:///x.db", "milvus+https://h/c")} == {"milvus"}


@pytest.mark.parametrize("spec", ["milvus://user:secret@db:19530/docs", "milvus://db:19530/bad-name",
                                  "milvus://db:19530/1x", "milvus+ftp://db/docs", "milvus://:19530/docs",
                                  "milvus://db:port/docs", "milvus+lite://", "milvus+lite:///x.db?colection=a",
                                  "milvus://db/docs?x=1"])
def test_bad_specs_are_refused_by_name(spec):
    with pytest.raises(ValueError) as e:
        parse_spec(spec)
    assert "secret" not in str(e.value)


def test_the_token_comes_from_the_environment_and_is_never_saved(tmp_path, monkeypatch):
    import pymilvus

    from unret.store import milvus_collection

    seen = {}
    monkeypatch.setattr(pymilvus, "MilvusClient", lambda uri, **kw: seen.update(uri=uri, **kw))
    monkeypatch.setenv(TOKEN_ENV, "root:s3cret")
    milvus_collection.connect(parse_spec("milvus://db:19530/docs"))
    assert seen == {"uri": "http://db:19530", "token": "root:s3cret"}
    monkeypatch.undo()
    monkeypatch.setenv(TOKEN_ENV, "root:s3cret")
    store = open_store(lite(tmp_path), 4)
    store.save(tmp_path / "index")
    store.close()
    assert "s3cret" not in (tmp_path / "index" / "milvus.json").read_text()


def test_pymilvus_is_imported_only_when_a_milvus_store_is_used():
    code = ("import sys, unret.store.registry as r, unret.store.milvus; r.open_store(None, 4); "
            "print('pymilvus' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------- the translator

def test_quote_escapes_what_would_end_the_literal():
    assert quote('a"b') == r'"a\"b"'
    assert quote("a\\b") == r'"a\\b"'
    assert quote('\\"') == r'"\\\""'
    assert quote("a\nb\r\tc") == r'"a\nb\r\tc"'
    assert quote("é😀\x01") == '"é😀\x01"'


def test_translate_builds_a_superset_expression():
    assert translate(None, None) == ""
    assert translate(["code", 'x"y'], None) == r'(modality in ["code", "x\"y"])'
    assert translate(None, {"k": True, "n": 1, "f": 0.5, "s": "v", "z": None}) == (
        '(metadata["k"] == true) and (metadata["n"] == 1) and (metadata["f"] == 0.5) and '
        '(metadata["s"] == "v") and (metadata["z"] is null)')
    assert translate(None, {"o": {"a": {"b": 2}}, "l": [1, "a", [2]], "e": {}, "el": []}) == (
        '(metadata["o"]["a"]["b"] == 2) and (json_contains_all(metadata["l"], [1, "a"])) and '
        '(exists metadata["e"]) and (exists metadata["el"])')
    assert translate(None, {'a"] or 1 == 1 or metadata["b': 1}) == r'(metadata["a\"] or 1 == 1 or metadata[\"b"] == 1)'


@pytest.mark.parametrize("where", [{"x": float("nan")}, {"x": float("inf")}, {"x": 2**70}, {"x": "\udcff"},
                                   {"x": {1, 2}}, {1: "a"}, {"x": [float("nan")]}, {"x": {"y": b"z"}}])
def test_filters_no_item_can_match_ask_nothing_of_the_engine(where):
    assert translate(None, where) is None


def test_an_empty_modality_list_matches_nothing():
    assert translate([], None) is None


# ---------------------------------------------------------------------- store behaviour only Milvus has

def test_integers_past_64_bits_are_refused_by_name_and_nothing_is_written(tmp_path):
    store = open_store(lite(tmp_path), 4)
    with pytest.raises(ValueError, match=r"'big'.*64-bit"):
        store.add(["ok", "big"], np.ones((2, 4)), "text", [{"n": 2**63 - 1}, {"deep": [{"n": 2**64}]}])
    assert len(store) == 0
    store.add(["ok"], np.ones((1, 4)), "text", [{"n": 2**63 - 1, "m": -(2**63)}])
    assert store.get("ok") == ("text", {"n": 2**63 - 1, "m": -(2**63)})
    store.close()


def test_ids_pages_by_primary_key_whatever_the_ids_hold(tmp_path):
    ids = [f"id-{i}" for i in range(10)] + ['q"uote', "new\nline", "back\\slash", "\x00nul", "é"]
    store = open_store(lite(tmp_path), 4)
    store.add(ids, np.random.default_rng(0).normal(size=(len(ids), 4)), "text")
    assert sorted(r["id"] for page in store.pages("", [], page=1) for r in page) == sorted(ids)  # each id a cursor
    assert sorted(store.ids()) == sorted(ids)
    assert store.accepts(ids).all() and len(store) == len(ids)
    store.remove(ids[10:])
    assert sorted(store.ids()) == sorted(ids[:10])
    store.close()


def scored(hits):
    return [(h.id, round(h.score, 5)) for h in hits]


def test_past_the_engine_cap_the_store_scans_exactly(tmp_path, monkeypatch):
    """With Milvus's top-k cap made tiny, a where that the engine over-matches must fall back to an exact
    scan here and still return the true top-k."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 8)).astype(np.float32)
    meta = [{"flag": 1 if i % 4 else True} for i in range(40)]
    store = open_store(lite(tmp_path), 8)
    store.add([f"d{i}" for i in range(40)], x, "text", meta)
    q = rng.normal(size=(2, 8)).astype(np.float32)
    want = store.search(q, k=3, where={"flag": True})
    assert all(h.metadata == {"flag": True} for hits in want for h in hits) and all(len(h) == 3 for h in want)
    monkeypatch.setattr(milvus_search, "MAX_TOPK", 4)
    calls = []
    real = milvus_search.scan
    monkeypatch.setattr(milvus_search, "scan", lambda *a: calls.append(1) or real(*a))
    assert [scored(h) for h in store.search(q, k=3, where={"flag": True})] == [scored(h) for h in want]
    assert calls
    store.close()


def test_exact_search_on_an_approximate_index_scans_every_vector(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 8)).astype(np.float32)
    store = open_store(lite(tmp_path), 8, index="HNSW")
    assert store.index_type == "HNSW"
    store.add([f"d{i}" for i in range(50)], x, "code")
    q = rng.normal(size=8).astype(np.float32)
    s = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (q / np.linalg.norm(q))
    hits = store.search(q, k=6, exact=True)[0]
    assert [h.id for h in hits] == [f"d{j}" for j in np.argsort(-s)[:6]]
    np.testing.assert_allclose([h.score for h in hits], np.sort(s)[::-1][:6], atol=1e-5)
    store.close()


def test_reconnecting_keeps_the_collection_model_and_refuses_another_dim(tmp_path):
    store = open_store(lite(tmp_path), 4, {"name": "first"})
    store.add(["a"], np.ones((1, 4)), "text")
    again = open_store(lite(tmp_path), 4, {"name": "second"})
    assert again.model == {"name": "first"} and len(again) == 1
    with pytest.raises(ModelMismatchError, match="4-dimensional"):
        open_store(lite(tmp_path), 8)
    again.close()
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        len(store)


def test_loading_a_missing_or_damaged_record_or_a_dropped_collection_is_named(tmp_path):
    with pytest.raises(IndexCorruptError, match="missing"):
        load_store("milvus", tmp_path / "nothing")
    store = open_store(lite(tmp_path), 4)
    store.save(tmp_path / "index")
    record = tmp_path / "index" / "milvus.json"
    saved = json.loads(record.read_text())
    assert saved["uri"] == str(tmp_path / "m.db") and saved["collection"] == "c" and saved["dim"] == 4
    record.write_text("{not json")
    with pytest.raises(IndexCorruptError, match="damaged"):
        load_store("milvus", tmp_path / "index")
    record.write_text(json.dumps(saved))
    store.client.drop_collection("c")
    store.close()
    with pytest.raises(IndexCorruptError, match="does not exist"):
        load_store("milvus", tmp_path / "index")
