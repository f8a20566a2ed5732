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
