"""ASGI guards in front of the app: a request body limit enforced while the body streams in, and a Host
header check against DNS rebinding.

Checking ``Content-Length`` alone lets a chunked body (no length) or a lying length through, read whole
into memory; `BodyLimit` counts the bytes as they arrive and answers 413 as soon as they pass the limit.
A loopback server is reachable from any web page the machine's browser opens once an attacker's domain
re-resolves to 127.0.0.1 (DNS rebinding): the browser then sends that domain as ``Host``. `HostCheck`
answers only the host names the server was told it has (Vite's default for its dev server: ``localhost``,
``*.localhost`` and IP literals, which no DNS answer can rebind, plus the names given).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def error_body(message: str, kind: str = "invalid_request_error") -> bytes:
    """The JSON error every unret response uses: ``{"error": {"message", "type"}}``."""
    return json.dumps({"error": {"message": message, "type": kind}}).encode()


async def send_error(send: Send, status: int, message: str, kind: str = "invalid_request_error") -> None:
    body = error_body(message, kind)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyTooLargeError(Exception):
    """Raised into the app when the body being received passes the limit (the guard answers 413)."""


class BodyLimit:
    """413 JSON for a request body over ``max_bytes``, counted as it streams (chunked or not)."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = f"request body is over the {self.max_bytes}-byte limit"
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            return await send_error(send, 413, f"{too_large} (Content-Length: {length.decode()})")
        received, exceeded, started = 0, False, False

        async def counted() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyTooLargeError(too_large)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:  # whatever the app made of the failed read, the answer is 413
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await send_error(send, 413, too_large)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded_send)
        except BodyTooLargeError:
            if not started:
                await send_error(send, 413, too_large)
        except Exception:
            if not exceeded:
                raise
            if not started:
                await send_error(send, 413, too_large)


def _host_name(host_header: str) -> str:
    """``Host`` without its port, lower-cased; ``[::1]:8000`` → ``::1``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostCheck:
    """400 JSON unless ``Host`` is an IP literal, ``localhost`` / ``*.localhost``, or one of ``allowed``
    (``*`` allows any; a leading ``.`` allows a domain and its subdomains: ``.example.com``)."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]):
        self.app = app
        names = {a.strip().lower().strip("[]") for a in allowed if a.strip()}
        self.any = "*" in names
        self.exact = {n for n in names if not n.startswith(".")} | {"localhost"}
        self.suffixes = (*(n for n in names if n.startswith(".")), ".localhost")

    def allows(self, host_header: str | None) -> bool:
        if self.any:
            return True
        if not host_header:  # HTTP/1.0 clients may omit it; a browser never does
            return True
        name = _host_name(host_header)
        return _is_ip(name) or name in self.exact or name.endswith(self.suffixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if not self.allows(host):
                return await send_error(send, 400, f"Host header {host!r} is not a name this server answers to; "
                                                   "start it with --allowed-hosts NAME to allow it")
        await self.app(scope, receive, send)
