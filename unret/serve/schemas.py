"""Request bodies of the HTTP API (pydantic validates them; a violation is a 422 naming the field)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_K = 1000
MAX_QUERIES = 256
MAX_INPUTS = 2048

ModalityName = Literal["text", "code", "image", "image+text", "video"]


class SearchRequest(BaseModel):
    """``POST /search`` as JSON. ``query`` is text (never read as a file path); a list gives one result
    list per query."""

    model_config = ConfigDict(extra="forbid")

    query: str | list[str] = Field(min_length=1)
    k: int = Field(10, ge=1, le=MAX_K)
    modality: ModalityName | list[ModalityName] | None = None
    where: dict[str, Any] | None = None
    mode: Literal["dense", "lexical", "hybrid"] = "dense"
    fusion: Literal["rrf", "convex"] = "rrf"
    alpha: float = Field(0.5, ge=0.0, le=1.0)
    exact: bool = False
    task: str | None = None
    snippets: bool = False  # add each hit's indexed text (first 2,000 characters) as "text"


class Document(BaseModel):
    """One document for ``POST /documents``: exactly one of ``text``, ``code`` or ``image_base64``
    (an image may carry a ``text`` caption)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=1024)
    text: str | None = None
    code: str | None = None
    language: str | None = None
    image_base64: str | None = None
    metadata: dict[str, Any] | None = None


class DocumentsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    documents: list[Document] = Field(min_length=1, max_length=MAX_INPUTS)


class EmbeddingsRequest(BaseModel):
    """OpenAI's ``POST /v1/embeddings`` body plus ``input_type`` (query or document role) and ``task``."""

    model_config = ConfigDict(extra="allow")  # OpenAI clients send fields such as "user"

    input: str | list[str] | list[int] | list[list[int]]
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    input_type: Literal["query", "document", "passage", "search_query", "search_document"] = "document"
    task: str | None = None
