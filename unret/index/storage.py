"""The files of a saved index: the manifest (self-checksummed, every field validated) and file checksums.

Layout of a saved index (one folder; see ``unret.index.folder`` for how it replaces the previous one)::

    manifest.json         format_version, backend, model, dim, metric, settings, count, next_key, shards,
                          sha256 + size of each file, and the sha256 of the manifest itself
    shard-00000.usearch   the ANN backend's files (usearch: shard i holds a contiguous range of keys)
    vectors.npy           float32 copy of the live vectors, in catalog row order
    catalog.sqlite        items(row, key, id, modality, metadata JSON)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from unret.errors import IndexCorruptError
from unret.index.folder import MANIFEST, backup_of
from unret.index.validate import DTYPES, METRICS

FORMAT_VERSION = 2  # 2: the manifest carries its own sha256; version 1 (without it) is still read
CATALOG = "catalog.sqlite"
VECTORS = "vectors.npy"
_SELF = "manifest_sha256"
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _sha256(file: Path) -> str:
    h = hashlib.sha256()
    with open(file, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _self_sha256(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != _SELF}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def file_entries(folder: Path, files: list[str]) -> dict[str, dict[str, Any]]:
    return {f: {"bytes": (folder / f).stat().st_size, "sha256": _sha256(folder / f)} for f in files}


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest with its own checksum and fsync every file and the folder, so a completed save
    survives a power cut."""
    manifest = {**manifest, "format_version": FORMAT_VERSION}
    manifest[_SELF] = _self_sha256(manifest)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
    for f in [*manifest["files"], MANIFEST]:
        _fsync(folder / f)
    _fsync(folder)


def read_manifest(path: Path) -> dict[str, Any]:
    """The validated manifest of the index at ``path``; IndexCorruptError naming the file otherwise."""
    file = path / MANIFEST
    if not file.exists():
        hint = f"; an interrupted save left the previous index at {backup_of(path)}" \
            if (backup_of(path) / MANIFEST).exists() else ""
        raise IndexCorruptError(f"no saved index at {path}: {file} is missing{hint}")
    try:
        m = json.loads(file.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise IndexCorruptError(f"{file} is not valid JSON: {e}") from e
    version = m.get("format_version") if isinstance(m, dict) else None
    if type(version) is not int or version not in (1, FORMAT_VERSION):
        raise IndexCorruptError(f"{file}: unsupported format_version {version!r} (this unret reads 1 and "
                                f"{FORMAT_VERSION}); it may have been written by a newer unret")
    if version >= 2 and m.get(_SELF) != _self_sha256(m):
        raise IndexCorruptError(f"{file} is corrupt or was edited: its sha256 does not match {_SELF}")
    try:
        _validate(m)
    except (KeyError, TypeError, ValueError) as e:
        raise IndexCorruptError(f"{file}: invalid manifest: {e}") from e
    return m


def _positive(m: dict, key: str, minimum: int = 1) -> int:
    v = m[key]
    if type(v) is not int or v < minimum:
        raise ValueError(f"{key} must be an integer >= {minimum}, got {v!r}")
    return v


def _validate(m: dict[str, Any]) -> None:
    """Every field the loader uses has the right type and agrees with the others."""
    m.setdefault("backend", "usearch")  # version 1 had only usearch
    if not isinstance(m["backend"], str):
        raise ValueError(f"backend must be a name, got {m['backend']!r}")
    if m["model"] is not None and not isinstance(m["model"], dict):
        raise ValueError(f"model must be an object or null, got {m['model']!r}")
    for key in ("dim", "connectivity", "expansion_add", "expansion_search"):
        _positive(m, key)
    if m["metric"] not in METRICS or m["dtype"] not in DTYPES:
        raise ValueError(f"metric {m['metric']!r} / dtype {m['dtype']!r} not among {METRICS} / {DTYPES}")
    if m["shard_size"] is not None:
        _positive(m, "shard_size")
    count, next_key = _positive(m, "count", 0), _positive(m, "next_key", 0)
    if next_key < count:
        raise ValueError(f"next_key {next_key} is below count {count}: keys would be reused")
    shards, files = m["shards"], m["files"]
    if not isinstance(shards, list) or not shards or not all(isinstance(s, dict) for s in shards):
        raise ValueError("shards must be a non-empty list of objects")
    if sum(_positive(s, "count", 0) for s in shards) != count:
        raise ValueError(f"shard counts do not add up to count {count}")
    names = [s["file"] for s in shards] + [VECTORS, CATALOG]
    if not isinstance(files, dict) or sorted(files) != sorted(names) or len(set(names)) != len(names):
        raise ValueError(f"files {sorted(files) if isinstance(files, dict) else files!r} do not match the "
                         f"shards and catalog {sorted(names)}")
    for name, info in files.items():
        safe_name(name)
        if not isinstance(info, dict) or not isinstance(info.get("sha256"), str) \
                or not _HEX64.fullmatch(info["sha256"]):
            raise ValueError(f"files[{name!r}] needs a sha256 hex digest")
        _positive(info, "bytes", 0)


def safe_name(name: Any) -> str:
    """A file name inside the index folder: no separators, no ``..``, not hidden."""
    if not isinstance(name, str) or not name or name.startswith(".") or "/" in name or "\\" in name \
            or "\0" in name or os.path.basename(name) != name:
        raise ValueError(f"file name {name!r} is not a plain file name inside the index folder")
    return name


def verify_file(file: Path, info: dict[str, Any]) -> None:
    if not file.exists():
        raise IndexCorruptError(f"{file} is missing (listed in the manifest)")
    size = file.stat().st_size
    if size != info["bytes"]:
        raise IndexCorruptError(f"{file} is truncated or altered: {size} bytes, expected {info['bytes']}")
    if _sha256(file) != info["sha256"]:
        raise IndexCorruptError(f"{file} is corrupt: sha256 does not match the manifest")
