"""``POST /v1/embeddings`` and ``GET /v1/models``, speaking OpenAI's protocol so its clients work unchanged.

The protocol has no query/document role, but unret's query and document prompts differ: the role is the
``input_type`` field — ``"document"`` (default, what indexing pipelines send in bulk) or ``"query"``;
``"passage"`` / ``"search_document"`` and ``"search_query"`` are accepted as aliases (Cohere / NIM names).
With the ``openai`` client: ``client.embeddings.create(..., extra_body={"input_type": "query"})``.
``dimensions`` truncates to the first d components and re-normalises (Matryoshka);
``encoding_format="base64"`` returns little-endian float32 bytes, as OpenAI does. Every input is text:
token-id arrays are refused, and a string is never read as a file path. ``model`` is echoed but not
checked (one model is served; clients such as LangChain send their own default name). ``usage`` counts
whitespace-separated words, not model tokens.
"""

from __future__ import annotations

import base64

import numpy as np
from fastapi import APIRouter, Request

from unret.errors import InputError
from unret.items import Text
from unret.serve.schemas import MAX_INPUTS, EmbeddingsRequest

router = APIRouter()

_ROLES = {"query": "query", "search_query": "query", "document": "document", "passage": "document",
          "search_document": "document"}


@router.post("/v1/embeddings")
def embeddings(body: EmbeddingsRequest, request: Request) -> dict:
    service = request.app.state.service
    inputs = [body.input] if isinstance(body.input, str) else list(body.input)
    if not inputs:
        raise InputError("input must not be empty")
    if len(inputs) > MAX_INPUTS:
        raise InputError(f"at most {MAX_INPUTS} inputs per request, got {len(inputs)}")
    for i, x in enumerate(inputs):
        if not isinstance(x, str):
            raise InputError(f"input[{i}] is a token array; this server embeds strings only", position=i)
        if not x.strip():
            raise InputError(f"input[{i}] is empty", position=i)
    vectors = np.asarray(service.embed([Text(x) for x in inputs], role=_ROLES[body.input_type],
                                       dimensions=body.dimensions, task=body.task), dtype=np.float32)
    data = []
    for i, v in enumerate(vectors):
        emb: list[float] | str = (base64.b64encode(v.astype("<f4").tobytes()).decode("ascii")
                                  if body.encoding_format == "base64" else v.tolist())
        data.append({"object": "embedding", "index": i, "embedding": emb})
    words = sum(len(x.split()) for x in inputs)
    return {"object": "list", "data": data, "model": body.model or service.model_name,
            "usage": {"prompt_tokens": words, "total_tokens": words}}


@router.get("/v1/models")
def models(request: Request) -> dict:
    name = request.app.state.service.model_name
    return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "unret"}]}
