"""`load_reranker`: one entry point that tells a CrossEncoder package from a decoder reranker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unret.backbones.st_package import read_json
from unret.errors import ConfigError
from unret.rerank.base import Reranker
from unret.rerank.cross_encoder import CrossEncoderReranker, is_cross_encoder_package
from unret.rerank.decoder import TEXT_TYPES, VL_TYPES, DecoderReranker


def reranker_kind(name_or_path: str | Path) -> str | None:
    """``"cross-encoder"``, ``"decoder"`` or None (not a reranker unret can run), from the checkpoint's files."""
    path = str(name_or_path)
    if is_cross_encoder_package(path):
        return "cross-encoder"
    config = read_json(path, "config.json") or {}
    if config.get("model_type") in (*TEXT_TYPES, *VL_TYPES) and any(
            a.endswith(("ForCausalLM", "ForConditionalGeneration")) for a in config.get("architectures") or []):
        return "decoder"
    return None


def is_reranker(name_or_path: str | Path) -> bool:
    """Whether ``name_or_path`` is meant as a reranker: a CrossEncoder package, or a decoder checkpoint whose
    name says so (``Qwen3-Reranker-0.6B``). A plain Qwen checkpoint is just as loadable as a reranker but is
    more likely an embedding model, so callers that guess (``unret mine --teacher``) need the name."""
    kind = reranker_kind(name_or_path)
    return kind == "cross-encoder" or (kind == "decoder" and "rerank" in str(name_or_path).lower())


def load_reranker(name_or_path: str | Path | Reranker, device: str | None = None, dtype: Any = None,
                  **kwargs: Any) -> Reranker:
    """A `Reranker` for a CrossEncoder package or a Qwen decoder checkpoint (a Reranker passes through)."""
    if isinstance(name_or_path, Reranker):
        return name_or_path
    kind = reranker_kind(name_or_path)
    if kind == "cross-encoder":
        return CrossEncoderReranker.from_pretrained(name_or_path, device=device, dtype=dtype, **kwargs)
    if kind == "decoder":
        return DecoderReranker.from_pretrained(name_or_path, device=device, dtype=dtype, **kwargs)
    raise ConfigError(f"{name_or_path} is not a reranker unret can load: expected a sentence-transformers "
                      f"CrossEncoder package (or a sequence classifier) or a Qwen2/Qwen3/Qwen-VL causal LM")
