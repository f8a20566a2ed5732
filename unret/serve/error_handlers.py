"""Every error the server answers is JSON, ``{"error": {"message": "...", "type": "..."}}`` (docs/serve.md).

4xx for what the client can fix (malformed JSON, a field of the wrong type, an image over the limits, an
unknown id), 5xx for what it cannot — and an unexpected exception is a JSON 500 naming it too, never
Starlette's bare ``text/plain`` page; the server keeps serving either way.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from unret.errors import IndexLockedError, ReadOnlyIndexError, UnretError, disk_full
from unret.serve.images import PayloadTooLargeError

_KINDS = {401: "authentication_error", 403: "permission_error", 404: "not_found_error"}


class _AsciiJSON(JSONResponse):
    """JSON with non-ASCII escaped: an error may quote the input, and a lone surrogate in it (``"\\ud800"``)
    cannot be encoded as UTF-8 — the error about it must not fail in turn."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def error_response(status: int, message: str, kind: str | None = None, **extra: Any) -> JSONResponse:
    kind = kind or _KINDS.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return _AsciiJSON({"error": {"message": message, "type": kind, **extra}}, status_code=status)


def describe(errors: Any) -> str:
    """Pydantic's errors as one line naming each field: ``k: Input should be greater than or equal to 1``."""
    parts = []
    for e in errors:
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        parts.append(f"{where or 'body'}: {e.get('msg')}")
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    """Register the handlers mapping each error to its status (the most specific class wins)."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, describe(exc.errors()), detail=json.loads(json.dumps(exc.errors(), default=str)))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(ReadOnlyIndexError)
    async def read_only(request: Request, exc: ReadOnlyIndexError) -> JSONResponse:
        return error_response(403, str(exc))

    @app.exception_handler(IndexLockedError)
    async def locked(request: Request, exc: IndexLockedError) -> JSONResponse:
        """Another process (``unret index``, ``unret remove``) is writing the folder: nothing was changed."""
        return error_response(423, f"the change was not applied: {exc}", "locked_error")

    @app.exception_handler(PayloadTooLargeError)
    async def too_large(request: Request, exc: PayloadTooLargeError) -> JSONResponse:
        return error_response(413, str(exc))

    @app.exception_handler(UnretError)
    async def unret_error(request: Request, exc: UnretError) -> JSONResponse:
        return error_response(400, str(exc))

    @app.exception_handler(ValueError)
    async def value_error(request: Request, exc: ValueError) -> JSONResponse:
        return error_response(400, str(exc))

    @app.exception_handler(OSError)
    async def os_error(request: Request, exc: OSError) -> JSONResponse:
        """A write whose save failed: the save is all or nothing, so neither the disk nor memory (the service
        read the saved state back) has the change. 507 on a full disk."""
        message = f"the change was not applied: it could not be saved ({exc}); the index is as it was"
        return error_response(507 if disk_full(exc) else 500, message)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        """A bug or an input nothing above foresaw: still JSON (the traceback goes to the server's log)."""
        return error_response(500, f"internal error while answering {request.method} {request.url.path}: "
                                   f"{type(exc).__name__}: {exc}")
