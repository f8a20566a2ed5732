"""``unret serve`` as a real process on loopback: same hits as in-process search, OpenAI-compatible
embeddings (checked with the official client), auth on writes, 4xx JSON errors that leave the server
serving, thumbnails only of indexed images, and writes that survive a restart."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.serve.conftest import API_KEY, Server, copy_index
from unret import Code, UnifiedRetriever
from unret.items import Text

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def _plain(hits):
    return [[(h.id, h.modality, h.metadata) for h in row] for row in hits]


def _scores(hits):
    return [[h.score for h in row] for row in hits]


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_search_returns_the_in_process_hits(server, local, mode):
    queries = ["capital of France", "parse a url into its scheme", "read csv rows"]
    body = {"query": queries, "k": 4, "mode": mode}
    got = httpx.post(f"{server.url}/search", json=body, timeout=60).json()["results"]
    want = local.search([Text(q) for q in queries], k=4, mode=mode)
    assert [[(h["id"], h["modality"], h["metadata"]) for h in row] for row in got] == _plain(want)
    assert [[h["score"] for h in row] for row in got] == [pytest.approx(s, abs=1e-5) for s in _scores(want)]
    one = httpx.post(f"{server.url}/search", json={"query": "cats", "k": 2, "modality": "code", "mode": mode},
                     timeout=60).json()["results"]
    assert len(one) == 1 and all(h["modality"] == "code" for h in one[0])
    assert [h["id"] for h in one[0]] == [h.id for h in local.search(Text("cats"), k=2, modality="code", mode=mode)]


def test_image_upload_search_and_snippets(server, local, served_index):
    _, docs = served_index
    data = Path(docs["red"]).read_bytes()
    got = httpx.post(f"{server.url}/search", files={"image": ("red.png", data, "image/png")},
                     data={"k": "3", "modality": "image", "snippets": "true"}, timeout=60).json()["results"][0]
    want = local.search(Image.open(docs["red"]), k=3, modality="image")
    assert [h["id"] for h in got] == [h.id for h in want] and got[0]["id"] == "red"
    assert got[0]["score"] == pytest.approx(want[0].score, abs=1e-4)
    code = httpx.post(f"{server.url}/search", json={"query": "parse url", "k": 1, "modality": "code",
                                                    "mode": "lexical", "snippets": True}, timeout=60).json()
    assert code["results"][0][0]["text"].startswith("def parse_url(url):")


def test_embeddings_equal_encode_and_parse_with_the_openai_client(server, local):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", timeout=60, max_retries=0)
    texts = ["def add(a, b): return a + b", "a photo of a cat"]
    docs = client.embeddings.create(input=texts, model="anything")  # the client asks for base64 by default
    np.testing.assert_allclose([d.embedding for d in docs.data], local.encode_documents(texts).numpy(), atol=1e-5)
    assert [d.index for d in docs.data] == [0, 1] and docs.usage.total_tokens == 12  # words: 7 + 5
    queries = client.embeddings.create(input="parse a url", model="m", encoding_format="float",
                                       extra_body={"input_type": "query"})
    np.testing.assert_allclose(queries.data[0].embedding, local.encode_queries("parse a url").numpy(), atol=1e-5)
    short = client.embeddings.create(input=texts, model="m", dimensions=16)
    want = local.encode_documents(texts, truncate_dim=16).numpy()
    np.testing.assert_allclose([d.embedding for d in short.data], want, atol=1e-5)
    assert np.linalg.norm(want, axis=1) == pytest.approx(1.0, abs=1e-5)
    raw = httpx.post(f"{server.url}/v1/embeddings", json={"input": "x y", "encoding_format": "base64"}).json()
    decoded = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(decoded, local.encode_documents("x y").numpy(), atol=1e-5)


def test_writes_need_the_api_key(server):
    doc = {"documents": [{"id": "new", "text": "hello"}]}
    assert httpx.post(f"{server.url}/documents", json=doc).status_code == 401
    r = httpx.post(f"{server.url}/documents", json=doc, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    assert httpx.delete(f"{server.url}/documents/paris").status_code == 401
    assert httpx.get(f"{server.url}/items/paris").status_code == 200  # reads stay open


def _png_bomb(width: int = 8000, height: int = 8000) -> bytes:
    """A valid 1-bit PNG of ``width``×``height`` black pixels: a few kB on the wire, 64 M pixels decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = (b"\x00" + b"\x00" * ((width + 7) // 8)) * height
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), [
    ("post", "/search", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 400),
    ("post", "/search", {"json": {"query": "x", "modality": "audio"}}, 422),
    ("post", "/search", {"json": {"query": "x", "k": 0}}, 422),
    ("post", "/search", {"json": {"query": "x", "k": 100000}}, 422),
    ("post", "/search", {"json": {"query": "x", "mode": "sparse"}}, 422),
    ("post", "/search", {"json": {"query": ""}}, 422),
    ("post", "/search", {"json": {"query": "x", "colour": "red"}}, 422),
    ("post", "/search", {"files": {"image": ("bad.png", b"\x89PNG\r\n\x1a\nnot really", "image/png")}}, 400),
    ("post", "/search", {"files": {"image": ("bomb.png", _png_bomb(), "image/png")}}, 413),
    ("post", "/search", {"content": b"0" * (25 << 20), "headers": {"content-type": "application/json"}}, 413),
    ("get", "/items/no-such-id", {}, 404),
    ("get", "/thumbnails/no-such-id", {}, 404),
    ("delete", "/documents/no-such-id", {"headers": AUTH}, 404),
    ("post", "/documents", {"json": {"documents": [{"id": "x"}]}, "headers": AUTH}, 400),
    ("post", "/documents", {"json": {"documents": [{"id": "x", "text": "t", "metadata": {"source": "/etc/passwd"}}]},
                            "headers": AUTH}, 400),
    ("post", "/documents", {"json": {"documents": [{"id": "x", "image_base64": "%%%"}]}, "headers": AUTH}, 400),
    ("post", "/v1/embeddings", {"json": {"input": [[1, 2, 3]]}}, 400),
    ("post", "/v1/embeddings", {"json": {"input": "x", "dimensions": 100000}}, 400),
    ("post", "/v1/embeddings", {"json": {"input": "x", "encoding_format": "int8"}}, 422),
    ("post", "/v1/embeddings", {"json": {"input": []}}, 400),
])
def test_bad_requests_get_a_4xx_json_error_and_the_server_keeps_serving(server, method, path, kwargs, status):
    r = httpx.request(method.upper(), f"{server.url}{path}", timeout=60, **kwargs)
    assert r.status_code == status, r.text
    assert isinstance(r.json()["error"]["message"], str) and r.json()["error"]["message"]
    assert server.alive()


def test_thumbnails_only_for_indexed_image_files(server, served_index):
    _, docs = served_index
    r = httpx.get(f"{server.url}/thumbnails/red")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).size == Image.open(docs["red"]).size  # 96×64 fits in 256
    assert httpx.get(f"{server.url}/thumbnails/paris").status_code == 404  # a text item
    for path in ("/thumbnails/..%2F..%2F..%2Fetc%2Fpasswd", "/thumbnails/%2Fetc%2Fpasswd",
                 f"/thumbnails/{docs['red']}", "/thumbnails/red/../../../etc/passwd"):
        r = httpx.get(f"{server.url}{path}")
        assert r.status_code == 404 and b"root:" not in r.content


def test_info_and_items(server, served_index):
    info = httpx.get(f"{server.url}/info").json()
    assert info["modalities"] == {"text": 2, "code": 2, "image": 2} and info["count"] == 6
    assert info["dim"] == 64 and info["writable"] and not info["read_only"]
    item = httpx.get(f"{server.url}/items/url").json()
    assert item["modality"] == "code" and item["metadata"] == {"n": 2, "language": "python"}
    assert item["text"].startswith("def parse_url")
    assert httpx.get(f"{server.url}/").text.startswith("<!doctype html>")


def test_adds_and_removes_persist_across_a_restart_and_view_is_read_only(served_index, tmp_path):
    index = copy_index(served_index[0], tmp_path / "index")
    png = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(png, "PNG")
    docs = {"documents": [
        {"id": "berlin", "text": "Berlin is the capital of Germany.", "metadata": {"lang": "en"}},
        {"id": "sum", "code": "def total(xs):\n    return sum(xs)", "language": "python"},
        {"id": "square", "image_base64": base64.b64encode(png.getvalue()).decode(), "text": "a red square"},
    ]}
    first = Server(index, tmp_path / "first.log", "--api-key", API_KEY)
    try:
        r = httpx.post(f"{first.url}/documents", json=docs, headers=AUTH, timeout=120)
        assert r.status_code == 200 and r.json() == {"added": ["berlin", "sum", "square"], "count": 9}
        assert httpx.delete(f"{first.url}/documents/cats", headers={"X-API-Key": API_KEY}).json()["count"] == 8
        hits = httpx.post(f"{first.url}/search", json={"query": "Germany", "mode": "lexical"}).json()["results"][0]
        assert hits[0]["id"] == "berlin"
    finally:
        first.stop()
    second = Server(index, tmp_path / "second.log", "--api-key", API_KEY, "--view", "--auth-reads")
    try:
        assert httpx.get(f"{second.url}/info").status_code == 401  # --auth-reads: reads need the key too
        assert httpx.get(f"{second.url}/health").status_code == 200
        info = httpx.get(f"{second.url}/info", headers=AUTH).json()
        assert info["modalities"] == {"text": 2, "code": 3, "image": 2, "image+text": 1} and info["read_only"]
        assert httpx.get(f"{second.url}/items/berlin", headers=AUTH).json()["metadata"] == {"lang": "en"}
        assert httpx.get(f"{second.url}/items/cats", headers=AUTH).status_code == 404
        hits = httpx.post(f"{second.url}/search", json={"query": "Germany", "mode": "lexical"},
                          headers=AUTH).json()["results"][0]
        assert hits[0]["id"] == "berlin"
        r = httpx.post(f"{second.url}/documents", json=docs, headers=AUTH)
        assert r.status_code == 403 and "read-only" in r.json()["error"]["message"]
    finally:
        second.stop()
    reloaded = UnifiedRetriever.load(index)
    assert "berlin" in reloaded.index and "cats" not in reloaded.index
    want = reloaded.encode_documents([Code("def total(xs):\n    return sum(xs)", "python")]).numpy()
    np.testing.assert_allclose(reloaded.index.vectors(["sum"]), want, atol=1e-5)


def test_view_workers_serve_one_read_only_index(served_index, local, tmp_path):
    index = copy_index(served_index[0], tmp_path / "index")
    s = Server(index, tmp_path / "workers.log", "--view", "--workers", "2", "--log-level", "info")
    try:
        want = [h.id for h in local.search(Text("capital of France"), k=3)]
        for _ in range(6):  # new connections, spread over the workers by the kernel
            got = httpx.post(f"{s.url}/search", json={"query": "capital of France", "k": 3}, timeout=60).json()
            assert [h["id"] for h in got["results"][0]] == want
        assert httpx.get(f"{s.url}/info").json()["read_only"]
        r = httpx.post(f"{s.url}/documents", json={"documents": [{"id": "x", "text": "y"}]})
        assert r.status_code == 403  # started without a key: no writes at all
    finally:
        s.stop()
    assert s.log.read_text().count("Started server process") == 2


def test_unret_serve_checks_the_host_header_by_default(server):
    """DNS rebinding: a page on rebind.attacker.example whose name now resolves to 127.0.0.1 is refused."""
    r = httpx.get(f"{server.url}/info", headers={"Host": "rebind.attacker.example"})
    assert r.status_code == 400 and "--allowed-hosts" in r.json()["error"]["message"]
    port = server.url.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        assert httpx.get(f"{server.url}/info", headers={"Host": host}).status_code == 200
