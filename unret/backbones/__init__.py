"""Backbones: models that turn batches of items into vectors, and the dispatch that picks one.

Each family is one module that registers its class with :func:`unret.backbones.registry.register`; importing
it here is all the wiring a new family needs (see docs/architecture.md, "how to add a backbone").
"""

from __future__ import annotations

from typing import Any

import torch

from unret.backbones.base import Backbone
from unret.backbones.fused import FUSION_CONFIG, FusedBackbone
from unret.backbones.hf_text import HFTextBackbone
from unret.backbones.open_clip import OpenCLIPBackbone
from unret.backbones.peft_adapter import adapter_base
from unret.backbones.qwen_vl import QwenVLBackbone
from unret.backbones.registry import REGISTRY, backbone_class, detect_kind, register
from unret.backbones.st_backbone import SentenceTransformerBackbone
from unret.names import OPEN_CLIP_PREFIX, TESTING_PREFIX, resolve_model

VL_MODEL_TYPES = REGISTRY["qwen_vl"].model_types


# The built-in kinds (a snapshot; ``backbone_class`` also finds kinds registered later by plugins).
KINDS: dict[str, type[Backbone]] = {kind: r.cls for kind, r in REGISTRY.items()}

__all__ = [
    "FUSION_CONFIG", "KINDS", "OPEN_CLIP_PREFIX", "TESTING_PREFIX", "VL_MODEL_TYPES", "Backbone", "FusedBackbone",
    "HFTextBackbone", "OpenCLIPBackbone", "QwenVLBackbone", "SentenceTransformerBackbone", "backbone_class",
    "detect_kind", "load_backbone", "register", "resolve_dtype", "resolve_model",
]


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """``"bfloat16"`` / ``"bf16"`` / ``torch.bfloat16`` → ``torch.bfloat16``; ``None``/``"auto"`` → None."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    aliases = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32", "float": "float32"}
    name = aliases.get(dtype, dtype)
    if name == "auto":
        return None
    value = getattr(torch, name, None)
    if not isinstance(value, torch.dtype):
        raise ValueError(f"unknown dtype {dtype!r}; use e.g. 'bfloat16', 'float16' or 'float32'")
    return value


def load_backbone(name_or_path: str, kind: str | None = None, dtype: str | torch.dtype | None = None,
                  device: str | torch.device | None = None, **kwargs: Any) -> Backbone:
    """Load a backbone from a hub name, local folder or unret name; ``kind`` defaults to what it holds."""
    name_or_path = resolve_model(name_or_path)
    base = adapter_base(name_or_path)
    if base is not None:  # a PEFT adapter folder: its base model, with the adapter on top
        name_or_path, kwargs = resolve_model(base), {**kwargs, "adapter": name_or_path}
    kind = kind or detect_kind(name_or_path, kwargs.get("revision"))
    backbone = backbone_class(kind).from_pretrained(name_or_path, dtype=resolve_dtype(dtype), **kwargs)
    if device is not None:
        backbone.to(device)
    return backbone.eval()  # inference by default (training modules call .train()); no dropout
