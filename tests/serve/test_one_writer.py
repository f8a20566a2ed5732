"""A server and ``unret index`` on one folder: neither loses the other's writes (one writer per folder)."""

from __future__ import annotations

import errno

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.test_writer_lock import held_by_another_thread
from unret import UnifiedRetriever
from unret.cli import main
from unret.errors import IndexLockedError
from unret.items import Text
from unret.search import LexicalIndex
from unret.serve.app import create_app
from unret.serve.service import SearchService

pytestmark = pytest.mark.usefixtures("one_thread")
AUTH = {"Authorization": "Bearer k"}


@pytest.fixture
def served(minilm_path, tmp_path):
    r = UnifiedRetriever.from_pretrained(minilm_path)
    r.add([Text(f"document number {i} about topic {i % 3}") for i in range(4)], ids=[f"d{i}" for i in range(4)])
    r.save(tmp_path / "ix")
    service = SearchService.load(tmp_path / "ix")
    return service, TestClient(create_app(service, api_key="k")), tmp_path / "ix"


def test_writes_before_during_and_after_an_index_run_are_all_kept_or_refused(served, tmp_path):
    service, client, ix = served
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"f{i}.txt").write_text(f"an indexed file about lighthouses number {i}\n")
    assert client.post("/documents", json={"documents": [{"id": "s1", "text": "before the run"}]},
                       headers=AUTH).status_code == 200
    assert main(["index", str(src), "--out", str(ix), "--quiet"]) == 0  # the run starts from s1's commit
    with held_by_another_thread(ix):  # an index run at work: the server refuses writes, applying nothing
        got = client.post("/documents", json={"documents": [{"id": "s2", "text": "during the run"}]},
                          headers=AUTH)
        assert got.status_code == 423 and "being written by" in got.json()["error"]["message"]
        assert client.delete("/documents/d0", headers=AUTH).status_code == 423
        assert client.get("/items/s2").status_code == 404
    assert client.post("/documents", json={"documents": [{"id": "s3", "text": "after the run"}]},
                       headers=AUTH).status_code == 200  # reloads the run's commit first, then adds
    files = {str((src / f"f{i}.txt").resolve()) for i in range(3)}
    on_disk = UnifiedRetriever.load(ix)
    want = {"d0", "d1", "d2", "d3", "s1", "s3"} | files
    assert set(on_disk.index.ids()) == want and set(service.retriever.index.ids()) == want
    assert sorted(LexicalIndex.load(ix / "lexical").ids()) == sorted(want)  # texts in the same commit
    assert client.get("/info").json()["count"] == len(want)
    assert on_disk.search("lighthouses", k=1, mode="lexical")[0].id in files


def test_service_write_raises_locked_and_changes_nothing(served):
    service, _, ix = served
    with held_by_another_thread(ix), pytest.raises(IndexLockedError):
        service.remove("d1")
    assert "d1" in service.retriever.index and "d1" in UnifiedRetriever.load(ix).index


def test_a_save_failing_midway_answers_507_and_the_change_is_nowhere(served, monkeypatch):
    """The disk fills up after the vectors were written, while the texts are: the commit is all or nothing,
    so neither the disk nor memory holds the change, and the reply says it was not applied."""
    service, client, ix = served
    before = service.retriever.index.vectors(["d1"])

    def full(self, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(LexicalIndex, "save", full)
    got = client.post("/documents", json={"documents": [{"id": "new", "text": "whales"}, {"id": "d1", "text": "x"}]},
                      headers=AUTH)
    assert got.status_code == 507 and "not applied" in got.json()["error"]["message"]
    assert client.delete("/documents/d2", headers=AUTH).status_code == 507
    monkeypatch.undo()
    for r in (service.retriever, UnifiedRetriever.load(ix)):
        assert "new" not in r.index and "d2" in r.index
        np.testing.assert_array_equal(r.index.vectors(["d1"]), before)
        assert r.retriever("lexical").lexical.text("d1") == "document number 1 about topic 1"
