"""Checks on what callers hand the index, so a bad batch is refused by name before anything changes —
and nothing is accepted that a later ``save`` could not write (docs/indexing.md § Durability)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

METRICS = ("cos", "ip")
DTYPES = ("f32", "f16", "bf16", "i8")
METADATA_MAX_BYTES = 16 * 1024 * 1024  # one item's metadata as UTF-8 JSON; SQLite's own cap is ~1 GB
METADATA_MAX_DEPTH = 64  # nesting of dicts and lists in one item's metadata
# Vector norms the float32 scores stay exact for: a cosine score multiplies x·q (|q| = 1) by 1/|x|, and
# an inner product x·q must stay below float32's 3.4e38.
NORM_RANGE = {"cos": (1e-30, 1e36), "ip": (0.0, 1e18)}
F16_MAX = 65504.0


def check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_text(what: str, s: str) -> None:
    """Refuse strings UTF-8 cannot encode (lone surrogates such as ``'a\\udcff'``): SQLite could not save them."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"{what} is not valid Unicode ({e.reason} at position {e.start}); "
                         "it could not be saved") from e


def as_id_list(ids: Any) -> list[str]:
    if isinstance(ids, str):
        raise TypeError(f"ids must be a sequence of strings, not a single string ({ids!r})")
    ids = list(ids)
    for i in ids:
        if not isinstance(i, str) or not i:
            raise ValueError(f"every id must be a non-empty string, got {i!r}")
        check_text(f"id {i!r}", i)
    return ids


def metadata_json(id: str, meta: Mapping[str, Any] | None) -> str:
    """``meta`` as the JSON text the catalog stores, or a ValueError/TypeError naming ``id``.

    Keys must be strings (JSON would turn ``1`` and ``True`` into ``"1"`` and ``"true"``, and two keys can
    collide), strings valid Unicode, nesting at most ``METADATA_MAX_DEPTH`` and the JSON at most
    ``METADATA_MAX_BYTES``.
    """
    if meta is None:
        return "{}"
    if not isinstance(meta, Mapping):
        raise TypeError(f"metadata of id {id!r} must be a dict or None, got {type(meta).__name__}")
    _check_tree(id, meta)
    try:
        text = json.dumps(dict(meta), allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"metadata of id {id!r} is not JSON-serialisable: {e}") from e
    size = len(text.encode("utf-8"))
    if size > METADATA_MAX_BYTES:
        raise ValueError(f"metadata of id {id!r} is {size} bytes as JSON; the limit is {METADATA_MAX_BYTES}")
    return text


def _check_tree(id: str, meta: Mapping[str, Any]) -> None:
    """Walk the metadata without recursion (deep nesting must not raise RecursionError)."""
    stack: list[tuple[Any, int, str]] = [(meta, 1, "")]
    while stack:
        node, depth, where = stack.pop()
        if depth > METADATA_MAX_DEPTH:
            raise ValueError(f"metadata of id {id!r} is nested deeper than {METADATA_MAX_DEPTH} levels")
        if isinstance(node, Mapping):
            for key, value in node.items():
                if not isinstance(key, str):
                    raise TypeError(f"metadata of id {id!r} has a non-string key {key!r} at {where or 'top level'}"
                                    "; use string keys")
                check_text(f"metadata key {key!r} of id {id!r}", key)
                stack.append((value, depth + 1, f"{where}.{key}" if where else key))
        elif isinstance(node, list | tuple):
            stack.extend((v, depth + 1, f"{where}[{i}]") for i, v in enumerate(node))
        elif isinstance(node, str):
            check_text(f"metadata value at {where!r} of id {id!r}", node)


def as_matrix(x: Any, name: str, dim: int, labels: Sequence[str] | None = None,
              allow_1d: bool = False) -> np.ndarray:
    """Return ``x`` as a C-contiguous finite float32 ``(n, dim)`` array, or raise naming ``name``."""
    torch = sys.modules.get("torch")  # a tensor implies torch is imported; never import it here
    if torch is not None and isinstance(x, torch.Tensor):
        if x.is_complex():
            raise TypeError(f"{name} must be real; got a complex tensor")
        x = x.detach().to(device="cpu", dtype=torch.float32).numpy()
    try:
        arr = np.asarray(x)
        if np.iscomplexobj(arr):
            raise TypeError(f"{name} must be real; got complex values (cast explicitly if intended)")
        x = np.ascontiguousarray(arr, dtype=np.float32)
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
        raise ValueError(f"{name}: {label(row, labels)} contains NaN or inf")
    return x


def check_norms(norms: np.ndarray, metric: str, name: str, labels: Sequence[str] | None = None) -> None:
    """Refuse zero vectors for cosine, and norms outside ``NORM_RANGE`` whose float32 scores would over- or
    underflow (a 1e20-scale or 1e-23-scale vector is fine)."""
    low, high = NORM_RANGE[metric]
    if metric == "cos" and not norms.all():
        raise ValueError(f"{name}: {label(int(np.argmin(norms)), labels)} is zero (a zero vector has no "
                         "direction for cosine)")
    out = np.flatnonzero(((norms < low) & (norms > 0)) | (norms > high))
    if len(out):
        r = int(out[0])
        raise ValueError(f"{name}: {label(r, labels)} has norm {norms[r]:.3g}, outside [{low:g}, {high:g}] "
                         f"where {metric} scores are exact in float32; rescale it")


def label(row: int, labels: Sequence[str] | None) -> str:
    return f"id {labels[row]!r}" if labels is not None and row < len(labels) else f"row {row}"


def check_batch(ids: Any, vectors: Any, modalities: str | Sequence[str],
                metadata: Sequence[Mapping[str, Any] | None] | None,
                dim: int) -> tuple[list[str], np.ndarray, list[str], list[str]]:
    """What every store's ``add`` checks before it changes anything: ids, one ``(n, dim)`` matrix, a non-empty
    modality and JSON metadata per id (``modalities`` may be one string), no id twice. Returns the ids, the
    float32 matrix, the modalities and the metadata as JSON text."""
    ids = as_id_list(ids)
    n = len(ids)
    x = as_matrix(vectors, "vectors", dim, labels=ids)
    if x.shape[0] != n:
        raise ValueError(f"got {n} ids but {x.shape[0]} vectors")
    mods = [modalities] * n if isinstance(modalities, str) else list(modalities)
    if len(mods) != n:
        raise ValueError(f"got {n} ids but {len(mods)} modalities")
    for id, m in zip(ids, mods, strict=True):
        if not isinstance(m, str) or not m:
            raise ValueError(f"modality of id {id!r} must be a non-empty string, got {m!r}")
        check_text(f"modality of id {id!r}", m)
    metas = [None] * n if metadata is None else list(metadata)
    if len(metas) != n:
        raise ValueError(f"got {n} ids but {len(metas)} metadata entries")
    meta_json = [metadata_json(id, m) for id, m in zip(ids, metas, strict=True)]
    dupes = [i for i, c in Counter(ids).items() if c > 1]
    if dupes:
        raise ValueError(f"duplicate ids in one add call: {dupes[:5]!r}")
    return ids, x, mods, meta_json


def check_filters(modality: Any, where: Any) -> tuple[list[str] | None, Any]:
    """``modality`` as a list (or None) and ``where`` checked: the filter arguments every store's search takes."""
    if modality is not None:
        modality = [modality] if isinstance(modality, str) else list(modality)
        if not all(isinstance(m, str) for m in modality):
            raise TypeError(f"modality must be a string or a collection of strings, got {modality!r}")
    if where is not None and not (callable(where) or isinstance(where, Mapping)):
        raise TypeError(f"where must be a dict or a callable(metadata) -> bool, not {type(where)}")
    return modality, where
