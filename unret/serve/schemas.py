"""Request bodies of the HTTP API (pydantic validates them; a violation is a 422 naming the field)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from unret.search import check_mode

MAX_K = 1000
MAX_QUERIES = 256
MAX_INPUTS = 2048

ModalityName = Literal["text", "code", "image", "image+text", "video"]


def _valid_unicode(text: str) -> str:
    """Refuse a lone surrogate (JSON's ``"\\ud800"`` decodes to one): no tokenizer, file or database takes it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"contains a lone surrogate ({text[e.start]!r} at character {e.start}), "
                         "which is not valid Unicode") from None
    return text


def _strings(value: Any) -> Any:
    """Check every string of a ``str | list`` field (a union would bury the message in one per member)."""
    if isinstance(value, str):
        return _valid_unicode(value)
    for i, text in enumerate(value):
        if isinstance(text, str):
            try:
                _valid_unicode(text)
            except ValueError as e:
                raise ValueError(f"item {i} {e}") from None
    return value


Str = Annotated[str, AfterValidator(_valid_unicode)]


class SearchRequest(BaseModel):
    """``POST /search`` as JSON. ``query`` is text (never read as a file path); a list gives one result
    list per query."""

    model_config = ConfigDict(extra="forbid")

    query: str | list[str] = Field(min_length=1)
    k: int = Field(10, ge=1, le=MAX_K)
    modality: ModalityName | list[ModalityName] | None = None
    where: dict[str, Any] | None = None
    mode: str = "dense"  # a registered search mode (unret.search.registry); GET /info lists them
    fusion: Literal["rrf", "convex"] = "rrf"
    alpha: float = Field(0.5, ge=0.0, le=1.0)
    exact: bool = False
    task: Str | None = None
    snippets: bool = False  # add each hit's indexed text (first 2,000 characters) as "text"

    @field_validator("mode")
    @classmethod
    def _registered_mode(cls, mode: str) -> str:
        return check_mode(mode)  # read at request time: a mode registered after start-up is accepted too

    @field_validator("query")
    @classmethod
    def _queries(cls, query: str | list[str]) -> str | list[str]:
        """At most MAX_QUERIES: one request encoding thousands of queries would stall every other client."""
        if isinstance(query, list) and len(query) > MAX_QUERIES:
            raise ValueError(f"at most {MAX_QUERIES} queries per request, got {len(query)}")
        return _strings(query)


class Document(BaseModel):
    """One document for ``POST /documents``: exactly one of ``text``, ``code`` or ``image_base64``
    (an image may carry a ``text`` caption)."""

    model_config = ConfigDict(extra="forbid")

    id: Str = Field(min_length=1, max_length=1024)
    text: Str | None = None
    code: Str | None = None
    language: Str | None = None
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
    task: Str | None = None

    @field_validator("input")
    @classmethod
    def _inputs(cls, value: Any) -> Any:
        return _strings(value)
