"""DocumentStore: vectors and texts of one index kept in step, saved in one all-or-nothing commit."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.store_workers import CONFIG, DIM, build, check, state
from unret.cli.common import index_folder
from unret.errors import ConfigError, IndexPathError
from unret.index import VectorIndex
from unret.search import LexicalIndex
from unret.store import DocumentStore
from unret.store.layout import CONFIG_NAME, LEXICAL_DIR, read_commit

ROOT = Path(__file__).resolve().parents[1]


def unit(*rows: list[float]) -> np.ndarray:
    x = np.array(rows, np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def small_store() -> DocumentStore:
    store = DocumentStore(VectorIndex(3, dtype="f32"), LexicalIndex())
    store.add(["a.py#1", "a.py#2", "b.md", "img"], unit([1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]),
              ["code", "code", "text", "image"],
              [{"source": "a.py", "sha256": "aa", "size": 3}, {"source": "a.py", "sha256": "aa", "size": 3},
               {"source": "b.md", "flag": True}, None],
              ["def parse_url(u): pass", "def split_words(s): pass", "notes about url parsing", ""])
    return store


def test_add_get_text_counts_sources_remove():
    store = small_store()
    assert len(store) == 4 and "b.md" in store and sorted(store.ids()) == ["a.py#1", "a.py#2", "b.md", "img"]
    assert store.get("b.md") == ("text", {"source": "b.md", "flag": True})
    assert store.text("a.py#1") == "def parse_url(u): pass" and store.text("nope") is None
    assert store.modality_counts() == {"code": 2, "text": 1, "image": 1}
    sources = store.sources()
    assert sorted(sources) == ["a.py", "b.md"] and sorted(sources["a.py"]["ids"]) == ["a.py#1", "a.py#2"]
    assert sources["a.py"]["sha256"] == "aa" and sources["a.py"]["size"] == 3
    assert store.remove(["a.py#2", "img"]) == 2
    assert sorted(store.lexical.ids()) == ["a.py#1", "b.md"]  # the text side follows
    assert store.modality_counts() == {"code": 1, "text": 1}
    with pytest.raises(KeyError, match="nope"):
        store.remove(["b.md", "nope"])
    assert "b.md" in store and store.text("b.md") == "notes about url parsing"  # nothing removed


def test_accepts_filters_like_search_with_json_types():
    store = small_store()
    store.add(["one"], unit([0, 0, 1]), ["text"], [{"flag": 1}], ["one"])
    ids = ["b.md", "one", "missing", "a.py#1"]
    assert store.accepts(ids, where={"flag": True}).tolist() == [True, False, False, False]
    assert store.accepts(ids, where={"flag": 1}).tolist() == [False, True, False, False]
    assert store.accepts(ids, modality="code").tolist() == [False, False, False, True]
    assert store.accepts(ids).tolist() == [True, True, False, True]
    dense = [h.id for h in store.search(unit([0, 0, 1]), k=5, where={"flag": True}, exact=True)[0]]
    assert dense == [i for i, ok in zip(ids, store.accepts(ids, where={"flag": True}), strict=True) if ok]


def test_save_load_round_trip_records_kind_and_a_new_commit(tmp_path):
    store = small_store()
    first = store.save(tmp_path / "ix", CONFIG)
    config = json.loads((tmp_path / "ix" / CONFIG_NAME).read_text())
    assert config["store"] == {"kind": "usearch"} and config["commit"] == first == read_commit(tmp_path / "ix")
    again = DocumentStore.load(tmp_path / "ix")
    assert again.commit == first and not again.changed_on_disk(tmp_path / "ix")
    assert sorted(again.ids()) == sorted(store.ids()) and again.get("b.md") == store.get("b.md")
    np.testing.assert_array_equal(again.vectors.vectors(["img"]), store.vectors.vectors(["img"]))
    assert {i: again.text(i) for i in store.ids()} == {i: store.text(i) for i in store.ids()}
    second = store.save(tmp_path / "ix", CONFIG)
    assert second != first and again.changed_on_disk(tmp_path / "ix")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".ix.") and "writer" not in p.name] == []


def test_reconcile_drops_stale_texts_and_fills_missing_ones_from_source_files(tmp_path):
    src = tmp_path / "a.py"
    src.write_text("def parse_url(u): pass\n")
    vectors = VectorIndex(3, dtype="f32")
    vectors.add(["a", "b"], unit([1, 0, 0], [0, 1, 0]), "code", [{"source": str(src)}, None])
    lexical = LexicalIndex().add(["b", "gone"], ["kept text", "stale"])
    store = DocumentStore(vectors, lexical).reconcile()
    assert sorted(store.lexical.ids()) == ["a", "b"]
    assert store.text("a") == "def parse_url(u): pass\n" and store.text("b") == "kept text"


def test_a_save_that_fails_between_the_parts_changes_nothing_on_disk(tmp_path, monkeypatch):
    """ENOSPC while writing the texts, after the vectors were written: the save raises saying so, and the
    folder still holds the previous commit, vectors and texts alike."""
    build(1).save(tmp_path / "ix", CONFIG)

    def full(self, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(LexicalIndex, "save", full)
    with pytest.raises(OSError, match=r"no space left on device.*unchanged"):
        build(2).save(tmp_path / "ix", CONFIG)
    monkeypatch.undo()
    assert check(DocumentStore.load(tmp_path / "ix")) == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".ix.tmp")] == []


@pytest.mark.parametrize("where", ["parts", "swap"])
def test_a_save_killed_mid_commit_leaves_one_complete_state(tmp_path, where):
    """SIGKILL after the vectors were written (before the texts), or between the swap's renames: the next
    load sees generation 1 or 2 complete, each document's vector and text of the same save."""
    build(1).save(tmp_path / "ix", CONFIG)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.run([sys.executable, "-m", "tests.store_workers", "crash", str(tmp_path / "ix"), "2", where],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert child.returncode == -9, child.stderr
    if where == "swap":  # the folder is aside as .ix.old: the CLI's check puts it back, not "no index"
        assert not (tmp_path / "ix").exists() and (tmp_path / ".ix.old").is_dir()
        assert index_folder(str(tmp_path / "ix")) == tmp_path / "ix"
    assert check(DocumentStore.load(tmp_path / "ix")) in (1, 2)
    assert not (tmp_path / ".ix.old").exists()  # put back (or dropped) by the load
    build(3).save(tmp_path / "ix", CONFIG)  # and the folder takes new saves
    assert check(DocumentStore.load(tmp_path / "ix")) == 3


def test_old_folders_without_store_or_commit_still_load(tmp_path):
    build(4).save(tmp_path / "ix", CONFIG)
    config = json.loads((tmp_path / "ix" / CONFIG_NAME).read_text())
    del config["store"], config["commit"]
    (tmp_path / "ix" / CONFIG_NAME).write_text(json.dumps(config))
    old = DocumentStore.load(tmp_path / "ix")
    assert check(old) == 4 and old.commit is None and old.spec == {"kind": "usearch"}


def test_save_carries_over_what_it_does_not_write_and_refuses_foreign_folders(tmp_path):
    build(1).save(tmp_path / "ix", CONFIG)
    (tmp_path / "ix" / "model").mkdir()
    (tmp_path / "ix" / "model" / "weights.bin").write_bytes(b"w" * 10)
    before = os.stat(tmp_path / "ix" / "model" / "weights.bin").st_ino
    build(2).save(tmp_path / "ix", CONFIG)
    assert os.stat(tmp_path / "ix" / "model" / "weights.bin").st_ino == before  # hard-linked, not copied
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(IndexPathError, match=r"no unret_config\.json"):
        build(1).save(tmp_path / "other", CONFIG)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_an_unknown_store_kind_is_refused_by_name():
    with pytest.raises(ConfigError, match="unknown store 'nosuch://x'"):
        DocumentStore.create(DIM, None, "nosuch://x")
    assert DocumentStore.create(DIM, None, "usearch").spec == {"kind": "usearch"}


def test_lexical_side_saved_in_the_same_commit(tmp_path):
    store = build(5)
    store.remove(["d0"])
    store.save(tmp_path / "ix", CONFIG)
    assert "d0" not in LexicalIndex.load(tmp_path / "ix" / LEXICAL_DIR)  # read without any reconcile
    ids, *_ = state(5)
    assert sorted(LexicalIndex.load(tmp_path / "ix" / LEXICAL_DIR).ids()) == sorted(ids[1:])


def test_the_usearch_vector_index_is_a_vector_store(tmp_path):
    from unret.store import VectorStore, load_store, open_store

    made = open_store("usearch", DIM)
    assert isinstance(made, VectorStore) and made.kind == "usearch" and type(made) is VectorIndex
    ids, x, meta, _ = state(6)
    made.add(ids, x, "text", meta)
    made.save(tmp_path / "index")
    again = load_store("usearch", tmp_path / "index", expected_dim=DIM)
    np.testing.assert_array_equal(again.vectors(ids), x)
    assert again.modality_counts() == {"text": len(ids)}
