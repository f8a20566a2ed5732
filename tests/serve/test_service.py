"""The service layer without HTTP: concurrent searches during writes, upload decoding limits."""

from __future__ import annotations

import io
import threading

import pytest
from PIL import Image

from unret import UnifiedRetriever
from unret.errors import InputError, ReadOnlyIndexError
from unret.items import Text
from unret.serve.images import PayloadTooLargeError, decode_upload
from unret.serve.service import SearchService

pytestmark = pytest.mark.usefixtures("one_thread")


def test_searches_run_while_a_writer_adds_and_removes(minilm_path, tmp_path):
    r = UnifiedRetriever.from_pretrained(minilm_path)
    r.add([Text(f"document number {i} about topic {i % 3}") for i in range(20)], ids=[f"d{i}" for i in range(20)])
    r.save(tmp_path / "ix")
    service = SearchService.load(tmp_path / "ix")
    errors, counts = [], []

    def reader():
        try:
            for _ in range(8):
                for mode in ("dense", "hybrid"):
                    hits = service.search([Text("topic 1")], k=5, mode=mode)[0]
                    assert len(hits) == 5 and len({h.id for h in hits}) == 5
                    counts.append(len(hits))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    def writer():
        try:
            for i in range(4):
                service.add([Text(f"fresh text {i} about topic 1")], [f"new{i}"], [None])
            service.remove("d0")
        except Exception as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(3)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors and not any(t.is_alive() for t in threads)
    assert len(counts) == 3 * 8 * 2 and service.info()["count"] == 23
    again = UnifiedRetriever.load(tmp_path / "ix")  # every write was saved
    assert "new3" in again.index and "d0" not in again.index
    assert again.lexical.text("new3") == "fresh text 3 about topic 1"
    view = SearchService.load(tmp_path / "ix", view=True)
    with pytest.raises(ReadOnlyIndexError):
        view.remove("d1")
    with pytest.raises(InputError, match="dimensions"):
        view.embed([Text("x")], dimensions=10_000)


def test_decode_upload_limits():
    buf = io.BytesIO()
    Image.new("RGBA", (30, 20), (1, 2, 3, 4)).save(buf, "PNG")
    img = decode_upload(buf.getvalue())
    assert img.mode == "RGB" and img.size == (30, 20)
    with pytest.raises(InputError, match="empty"):
        decode_upload(b"")
    with pytest.raises(InputError, match="corrupt"):
        decode_upload(buf.getvalue()[:40], "cut.png")
    with pytest.raises(PayloadTooLargeError, match="bytes"):
        decode_upload(b"0" * (21 << 20))


def test_a_write_whose_save_fails_is_undone_in_memory_too(minilm_path, tmp_path, monkeypatch):
    """A full disk during the save of an add / upsert / remove: the request fails with 507 and searches keep
    returning exactly what is on disk, the state a restart would serve."""
    import errno

    import numpy as np
    from fastapi.testclient import TestClient

    from unret.serve.app import create_app

    r = UnifiedRetriever.from_pretrained(minilm_path)
    r.add([Text(f"document number {i} about topic {i % 3}") for i in range(6)], ids=[f"d{i}" for i in range(6)])
    r.save(tmp_path / "ix")
    service = SearchService.load(tmp_path / "ix")
    before = service.retriever.index.vectors(["d1"])
    query = [Text("fresh text about whales")]
    ranked = [h.id for h in service.search(query, k=6, mode="hybrid")[0]]

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(service.retriever, "save", full_disk)
    with pytest.raises(OSError, match="No space"):
        service.add([Text("fresh text about whales"), Text("d1 replaced")], ["new", "d1"], [None, None])
    with pytest.raises(OSError, match="No space"):
        service.remove("d2")
    assert "new" not in service.retriever.index and "d2" in service.retriever.index
    assert service.get("d1")["text"] == "document number 1 about topic 1"
    np.testing.assert_array_equal(service.retriever.index.vectors(["d1"]), before)
    assert [h.id for h in service.search(query, k=6, mode="hybrid")[0]] == ranked
    assert service.info()["count"] == 6

    client = TestClient(create_app(service, api_key="k"))
    got = client.post("/documents", json={"documents": [{"id": "new", "text": "whales"}]},
                      headers={"Authorization": "Bearer k"})
    assert got.status_code == 507 and "not applied: it could not be saved" in got.json()["error"]["message"]
    assert client.get("/items/new").status_code == 404 and client.get("/info").json()["count"] == 6
    monkeypatch.undo()  # the disk has room again: the same write goes through and is saved
    assert client.post("/documents", json={"documents": [{"id": "new", "text": "whales"}]},
                       headers={"Authorization": "Bearer k"}).status_code == 200
    assert "new" in UnifiedRetriever.load(tmp_path / "ix").index
