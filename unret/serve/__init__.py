"""``unret serve``: an index over HTTP — search (dense, lexical, hybrid), OpenAI-compatible embeddings,
add / remove with an API key, and a web page for text, code and image search (docs/serve.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["SearchService", "create_app"]

if TYPE_CHECKING:
    from unret.serve.app import create_app
    from unret.serve.service import SearchService


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from unret.serve.app import create_app

        return create_app
    if name == "SearchService":
        from unret.serve.service import SearchService

        return SearchService
    raise AttributeError(f"module 'unret.serve' has no attribute {name!r}")
