"""The FastAPI application: search, item lookup, thumbnails, add / remove, OpenAI embeddings, the web page.

Every error is JSON ``{"error": {"message", "type"}}`` (`error_handlers`) with a 4xx status for a bad
request (malformed JSON, an unknown modality, ``k`` out of range, a corrupt or huge image, an unknown id,
a body over the limit or a foreign ``Host``: `guards`) — the request fails, the server keeps serving.
Writes need the API key (``Authorization: Bearer KEY`` or ``X-API-Key``) when the server has one, and are
refused (403) on a read-only ``--view`` server; a server started without a key accepts no writes at all
(an empty key is refused when the app is made). A write whose save fails (a full disk: 507) is not
applied, on disk or in memory; one made while another process writes the folder is refused with 423.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.exceptions import HTTPException

from unret import __version__
from unret.errors import ConfigError, InputError
from unret.index import Hit
from unret.items import Code, Item, Text, to_item
from unret.serve import error_handlers
from unret.serve.embeddings import router as embeddings_router
from unret.serve.error_handlers import error_response
from unret.serve.guards import BodyLimit, HostCheck
from unret.serve.images import MAX_IMAGE_BYTES, decode_upload, thumbnail
from unret.serve.schemas import DocumentsRequest, SearchRequest
from unret.serve.service import SearchService
from unret.serve.video import video_thumbnail

SNIPPET_CHARS = 2000
MAX_BODY_BYTES = MAX_IMAGE_BYTES + (1 << 20)  # an image upload plus its form fields


class _AnyId(PathConvertor):
    """Ids in URL paths may hold any character, a newline included (Starlette's ``path`` stops at one)."""

    regex = "(?s:.*)"


register_url_convertor("unret_id", _AnyId())


def create_app(service: SearchService, api_key: str | None = None, auth_reads: bool = False,
               allowed_hosts: Iterable[str] | None = None) -> FastAPI:
    """The app serving ``service``; ``auth_reads`` makes reads need ``api_key`` too. ``allowed_hosts``
    (what ``unret serve`` passes: its bound host and ``--allowed-hosts``) turns on the Host check;
    ``None`` leaves it to the caller, e.g. a proxy in front."""
    if api_key is not None and not api_key.strip():
        raise ConfigError("the API key is empty: an empty key would let anyone write; give a key, or none "
                          "(then the server accepts no writes)")
    app = FastAPI(title="unret", version=__version__, docs_url="/docs", redoc_url=None)
    app.state.service = service

    def authorized(request: Request) -> bool:
        if api_key is None:
            return False
        header = request.headers.get("authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
        return hmac.compare_digest(given.encode(), api_key.encode())

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        write = request.method in ("POST", "DELETE") and request.url.path.startswith("/documents")
        public = request.url.path in ("/health", "/") or request.url.path.startswith("/static/")
        if (write or (auth_reads and not public)) and not authorized(request):
            if api_key is None:
                return error_response(403, "this server accepts no writes: start it with --api-key KEY")
            return error_response(401, "missing or wrong API key (Authorization: Bearer KEY)")
        return await call_next(request)

    # The last added runs first: the Host check, then the body limit, then the key check above.
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    if allowed_hosts is not None:
        app.add_middleware(HostCheck, allowed=list(allowed_hosts))

    error_handlers.install(app)

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/info")
    def info() -> dict:
        return {**service.info(), "version": __version__, "writable": api_key is not None and not service.read_only}

    @app.post("/search")
    async def search(request: Request) -> dict:
        body, items = await _parse_search(request)
        hits = await run_in_threadpool(
            service.search, items, k=body.k, modality=body.modality, where=body.where, mode=body.mode,
            exact=body.exact, task=body.task, fusion=body.fusion, alpha=body.alpha)
        texts = await run_in_threadpool(service.texts, [h.id for row in hits for h in row]) if body.snippets else {}
        return {"results": [[_hit(h, texts) for h in row] for row in hits]}

    @app.get("/items/{id:unret_id}")
    def item(id: str) -> dict:
        try:
            return service.get(id)
        except KeyError:
            raise HTTPException(404, f"no item with id {id!r}") from None

    @app.get("/thumbnails/{id:unret_id}")
    def thumb(id: str) -> Response:
        try:
            found = service.get(id)
        except KeyError:
            raise HTTPException(404, f"no item with id {id!r}") from None
        source = found["metadata"].get("source")
        if found["modality"] not in ("image", "image+text", "video") or not isinstance(source, str):
            raise HTTPException(404, f"item {id!r} is not an indexed image or video file")
        kind = "video" if found["modality"] == "video" else "image"
        try:
            data = video_thumbnail(source) if kind == "video" else thumbnail(source)
        except FileNotFoundError:
            raise HTTPException(404, f"the {kind} file of {id!r} is no longer readable") from None
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=300"})

    @app.post("/documents")
    def add_documents(body: DocumentsRequest) -> dict:
        ids = [d.id for d in body.documents]
        if len(set(ids)) != len(ids):
            raise InputError("document ids must be unique within a request")
        items, metadata = [], []
        for i, doc in enumerate(body.documents):
            if doc.metadata and "source" in doc.metadata:
                raise InputError(f"documents[{i}]: metadata 'source' is set by the indexer, not by clients",
                                 position=i)
            items.append(_document_item(doc, i))
            metadata.append(doc.metadata)
        service.add(items, ids, metadata)
        return {"added": ids, "count": len(service.retriever)}

    @app.delete("/documents/{id:unret_id}")
    def delete_document(id: str) -> dict:
        try:
            service.remove(id)
        except KeyError:
            raise HTTPException(404, f"no item with id {id!r}") from None
        return {"removed": id, "count": len(service.retriever)}

    app.include_router(embeddings_router)
    static = resources.files("unret.serve") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(str(static / "index.html"), media_type="text/html")

    return app


def _hit(h: Hit, texts: dict[str, str | None]) -> dict:
    out: dict[str, Any] = {"id": h.id, "score": h.score, "modality": h.modality, "metadata": h.metadata}
    if h.id in texts:
        out["text"] = (texts[h.id] or "")[:SNIPPET_CHARS]
    return out


async def _parse_search(request: Request) -> tuple[SearchRequest, list[Item]]:
    """JSON ``SearchRequest``, or multipart: an ``image`` file plus the same fields as form values."""
    ctype = request.headers.get("content-type", "")
    try:
        if ctype.startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("image")
            if upload is None or isinstance(upload, str):
                raise InputError("multipart search needs an 'image' file field")
            data = await upload.read(MAX_IMAGE_BYTES + 1)
            image = decode_upload(data, upload.filename or "image")
            fields: dict[str, Any] = {k: v for k, v in form.items() if k != "image" and isinstance(v, str)}
            modalities = [m for m in form.getlist("modality") if isinstance(m, str) and m]
            fields["modality"] = modalities or None
            if "where" in fields:
                fields["where"] = json.loads(fields["where"]) if fields["where"] else None
            caption = fields.pop("query", "") or ""
            body = SearchRequest.model_validate({**fields, "query": caption or "image"})
            item = to_item((image, caption) if caption.strip() else image)
            return body, [item]
        body = SearchRequest.model_validate(json.loads(await request.body() or b"null"))
    except json.JSONDecodeError as e:
        raise InputError(f"malformed JSON: {e}") from None
    except RecursionError:
        raise InputError("malformed JSON: nested too deeply") from None
    except ValidationError as e:
        raise RequestValidationError(e.errors()) from None
    queries = [body.query] if isinstance(body.query, str) else body.query
    if not queries or any(not q.strip() for q in queries):
        raise InputError("every query must be a non-empty string")
    return body, [Text(q) for q in queries]


def _document_item(doc: Any, position: int) -> Item:
    given = [name for name in ("code", "image_base64") if getattr(doc, name) is not None]
    if doc.text is not None and not doc.image_base64:
        given.append("text")
    if len(given) != 1:
        raise InputError(f"documents[{position}] ({doc.id!r}) needs exactly one of text, code or image_base64",
                         position=position)
    if doc.code is not None:
        return to_item(Code(doc.code, doc.language), position)
    if doc.image_base64 is not None:
        import base64
        import binascii

        try:
            data = base64.b64decode(doc.image_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InputError(f"documents[{position}] ({doc.id!r}): image_base64 is not base64",
                             position=position) from None
        image = decode_upload(data, doc.id)
        return to_item((image, doc.text) if doc.text else image, position)
    return to_item(Text(doc.text), position)
