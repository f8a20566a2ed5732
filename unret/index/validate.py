"""Checks on what callers hand the index, so a bad batch is refused by name before anything changes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch


def check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def as_id_list(ids: Any) -> list[str]:
    if isinstance(ids, str):
        raise TypeError(f"ids must be a sequence of strings, not a single string ({ids!r})")
    ids = list(ids)
    for i in ids:
        if not isinstance(i, str) or not i:
            raise ValueError(f"every id must be a non-empty string, got {i!r}")
    return ids


def metadata_json(id: str, meta: Mapping[str, Any] | None) -> str:
    """``meta`` as the JSON text the catalog stores, or a ValueError/TypeError naming ``id``."""
    if meta is None:
        return "{}"
    if not isinstance(meta, Mapping):
        raise TypeError(f"metadata of id {id!r} must be a dict or None, got {type(meta).__name__}")
    try:
        return json.dumps(dict(meta), allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"metadata of id {id!r} is not JSON-serialisable: {e}") from e


def as_matrix(x: Any, name: str, dim: int, labels: Sequence[str] | None = None,
              allow_1d: bool = False) -> np.ndarray:
    """Return ``x`` as a C-contiguous finite float32 ``(n, dim)`` array, or raise naming ``name``."""
    if isinstance(x, torch.Tensor):
        x = x.detach().to(device="cpu", dtype=torch.float32).numpy()
    try:
        x = np.ascontiguousarray(x, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a numeric array or tensor: {e}") from e
    if allow_1d and x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        shape = "(n, dim) or (dim,)" if allow_1d else "(n, dim)"
        raise ValueError(f"{name} must have shape {shape}, got shape {x.shape}")
    if x.shape[1] != dim:
        raise ValueError(f"{name} have the wrong dimension: expected {dim}, got {x.shape[1]}")
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"{name}: {_label(row, labels)} contains NaN or inf")
    return x


def _label(row: int, labels: Sequence[str] | None) -> str:
    return f"id {labels[row]!r}" if labels is not None and row < len(labels) else f"row {row}"
