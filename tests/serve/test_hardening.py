"""The app in this process against hostile or odd requests: bodies over the limit however they arrive, too
many queries, forged Host headers, lone surrogates, deeply nested JSON, ids with newlines, an unexpected
exception — each answered with a JSON error while the server keeps serving."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from PIL import Image

from tests.serve.conftest import API_KEY, free_port
from unret.errors import ConfigError
from unret.items import Text, to_item
from unret.serve.app import MAX_BODY_BYTES, create_app
from unret.serve.schemas import MAX_QUERIES
from unret.serve.service import SearchService

pytestmark = pytest.mark.usefixtures("one_thread")
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module")
def service(served_index, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hardening") / "index"
    shutil.copytree(served_index[0], folder)
    return SearchService.load(folder)


@pytest.fixture(scope="module")
def client(service):
    with TestClient(create_app(service, api_key=API_KEY), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def guarded(service):
    """Host-checked as ``unret serve --host 127.0.0.1`` runs it."""
    with TestClient(create_app(service, allowed_hosts=["127.0.0.1"]), base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture(scope="module")
def live(service):
    """The app on a real uvicorn server on loopback (for real chunked uploads)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service, api_key=API_KEY), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def _json_error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json", r.headers
    message = r.json()["error"]["message"]
    assert isinstance(message, str) and message
    return message


def test_an_empty_api_key_is_refused_not_an_open_door(service):
    for key in ("", "   "):
        with pytest.raises(ConfigError, match="empty"):
            create_app(service, api_key=key)


def test_more_than_max_queries_is_refused_and_max_queries_is_answered(client):
    started = time.monotonic()
    r = client.post("/search", json={"query": [f"q{i}" for i in range(2000)]})
    assert f"at most {MAX_QUERIES} queries" in _json_error(r, 422)
    assert time.monotonic() - started < 30  # refused before encoding (generous: a busy 2-core machine)
    r = client.post("/search", json={"query": ["capital city"] * MAX_QUERIES, "mode": "lexical", "k": 1})
    assert r.status_code == 200 and len(r.json()["results"]) == MAX_QUERIES


async def _asgi(app, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, bytes, int]:
    """Send ``chunks`` as one request's body straight into the ASGI app; (status, body, bytes it pulled)."""
    pulled, sent = 0, []
    queue = list(chunks)

    async def receive():
        nonlocal pulled
        if not queue:
            return {"type": "http.disconnect"}
        chunk = queue.pop(0)
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(queue)}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/search", "raw_path": b"/search", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"), *headers],
             "client": ("127.0.0.1", 1234), "server": ("127.0.0.1", 80)}
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"), pulled


@pytest.mark.parametrize("headers", [[], [(b"content-length", b"100")], [(b"transfer-encoding", b"chunked")]])
def test_the_body_limit_holds_while_the_body_streams_in(service, headers):
    """No length, a lying length, chunked: reading stops one chunk past the limit and the answer is 413 JSON."""
    app = create_app(service)
    chunk = b" " * (1 << 20)
    chunks = [chunk] * (MAX_BODY_BYTES // len(chunk) + 8)
    status, body, pulled = asyncio.run(_asgi(app, headers, chunks))
    assert status == 413 and "limit" in json.loads(body)["error"]["message"]
    assert MAX_BODY_BYTES < pulled <= MAX_BODY_BYTES + len(chunk)
    status, body, _ = asyncio.run(_asgi(app, headers, [b'{"query": "cats", ', b'"k": 2, "mode": "lexical"}']))
    assert status == 200 and json.loads(body)["results"][0][0]["id"] == "cats"  # under the limit: served


def test_a_real_chunked_upload_over_the_limit_gets_413_json(live):
    def body():
        for _ in range(MAX_BODY_BYTES // (1 << 20) + 4):
            yield b" " * (1 << 20)

    try:
        r = httpx.post(f"{live}/search", content=body(), headers={"content-type": "application/json"}, timeout=60)
    except httpx.WriteError:  # the server answered and closed while the client still sent: nothing read whole
        pass
    else:
        assert r.request.headers["transfer-encoding"] == "chunked" and "limit" in _json_error(r, 413)
    assert httpx.get(f"{live}/health").json() == {"status": "ok"}


@pytest.mark.parametrize("host", ["rebind.attacker.example", "rebind.attacker.example:80", "127.0.0.1.nip.io"])
def test_a_forged_host_header_is_refused(guarded, host):
    assert "--allowed-hosts" in _json_error(guarded.get("/info", headers={"host": host}), 400)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8000", "localhost:8000", "[::1]:8000", "app.localhost",
                                  "10.1.2.3"])
def test_loopback_names_and_ip_literals_are_answered(guarded, host):
    assert guarded.get("/info", headers={"host": host}).status_code == 200


def test_allowed_hosts_extend_the_check_and_star_turns_it_off(service):
    app = create_app(service, allowed_hosts=["search.example.com", ".corp.example"])
    with TestClient(app) as c:
        assert c.get("/health", headers={"host": "search.example.com"}).status_code == 200
        assert c.get("/health", headers={"host": "a.b.corp.example:443"}).status_code == 200
        assert c.get("/health", headers={"host": "example.com"}).status_code == 400
    with TestClient(create_app(service, allowed_hosts=["*"])) as c:
        assert c.get("/health", headers={"host": "anything.example"}).status_code == 200


@pytest.mark.parametrize(("path", "body"), [
    ("/search", '{"query": "\\ud800"}'),
    ("/search", '{"query": ["fine", "x\\udfffy"]}'),
    ("/v1/embeddings", '{"input": ["fine", "\\ud83d"]}'),
    ("/documents", '{"documents": [{"id": "s", "text": "lone \\udc00 surrogate"}]}'),
    ("/documents", '{"documents": [{"id": "\\ud800", "text": "fine"}]}'),
])
def test_lone_surrogates_are_a_422_naming_the_field(client, path, body):
    r = client.post(path, content=body, headers={"content-type": "application/json", **AUTH})
    message = _json_error(r, 422)
    assert "surrogate" in message or "unicode string" in message  # pydantic's own words for a constrained str


@pytest.mark.parametrize("path", ["/search", "/v1/embeddings", "/documents"])
def test_deeply_nested_json_is_a_4xx_json_error(client, path):
    deep = "[" * 50_000 + "]" * 50_000
    r = client.post(path, content=f'{{"query": {deep}, "input": {deep}, "documents": {deep}}}',
                    headers={"content-type": "application/json", **AUTH})
    assert 400 <= r.status_code < 500 and _json_error(r, r.status_code)
    assert client.get("/health").json() == {"status": "ok"}


def test_an_unexpected_exception_is_a_json_500_naming_it(client, service, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the ranking blew up")

    monkeypatch.setattr(service, "search", broken)
    message = _json_error(client.post("/search", json={"query": "x"}), 500)
    assert "RuntimeError" in message and "the ranking blew up" in message


def test_ids_with_newlines_and_odd_characters_are_reachable(client, service):
    ids = ["line\nbreak", "tab\there", "trailing\n", "carriage\r\nreturn", "a/b?c#d"]
    docs = [{"id": i, "text": f"odd id number {n}"} for n, i in enumerate(ids)]
    r = client.post("/documents", json={"documents": docs}, headers=AUTH)
    assert r.status_code == 200, r.text
    for n, i in enumerate(ids):
        quoted = "/items/" + quote(i, safe="/")
        got = client.get(quoted)
        assert got.status_code == 200 and got.json()["id"] == i and got.json()["text"] == f"odd id number {n}"
        assert client.delete(quoted.replace("/items/", "/documents/", 1), headers=AUTH).json()["removed"] == i
        assert client.get(quoted).status_code == 404
    assert not any(i in service.retriever.index for i in ids)


def test_a_huge_indexed_image_gets_a_413_json_thumbnail_not_a_500(client, service, tmp_path):
    from tests.serve.test_server import _png_bomb

    path = tmp_path / "poster.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(path)
    service.add([to_item(str(path))], ["poster"], [None])
    assert client.get("/thumbnails/poster").status_code == 200
    path.write_bytes(_png_bomb(20_000, 20_000))  # replaced by a 400-megapixel file after indexing
    assert "too large" in _json_error(client.get("/thumbnails/poster"), 413)
    assert client.get("/health").json() == {"status": "ok"}


def test_text_queries_still_match_in_process_search(client, service):
    got = client.post("/search", json={"query": "capital of France", "k": 3}).json()["results"][0]
    assert [h["id"] for h in got] == [h.id for h in service.retriever.search(Text("capital of France"), k=3)]
