"""Saving and loading an index folder: manifest, checksums, atomic swap.

Layout of a saved index (one directory)::

    manifest.json         format_version, backend, model, dim, metric, settings, count, next_key, shards,
                          sha256 + size of each file
    shard-00000.usearch   the ANN backend's files (usearch: shard i holds a contiguous range of keys)
    vectors.npy           float32 copy of the live vectors, in catalog row order
    catalog.sqlite        items(row, key, id, modality, metadata JSON)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from unret.errors import IndexCorruptError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CATALOG = "catalog.sqlite"
VECTORS = "vectors.npy"


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


def file_entries(folder: Path, files: list[str]) -> dict[str, dict[str, Any]]:
    return {f: {"bytes": (folder / f).stat().st_size, "sha256": _sha256(folder / f)} for f in files}


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest and fsync every file and the folder, so a completed save survives a power cut."""
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
    for f in [*manifest["files"], MANIFEST]:
        _fsync(folder / f)
    _fsync(folder)


def backup_of(path: Path) -> Path:
    return path.parent / f".{path.name}.old"


def swap_in(tmp: Path, path: Path) -> None:
    """Replace directory ``path`` by the complete directory ``tmp`` with renames, keeping the old one
    until the new one is in place."""
    backup = backup_of(path)
    if path.exists():
        if backup.exists():  # left by an interrupted save; ``path`` itself is complete
            shutil.rmtree(backup)
        os.replace(path, backup)
    try:
        os.replace(tmp, path)
    except BaseException:
        if backup.exists() and not path.exists():
            os.replace(backup, path)
        raise
    _fsync(path.parent)
    shutil.rmtree(backup, ignore_errors=True)


def read_manifest(path: Path) -> dict[str, Any]:
    file = path / MANIFEST
    if not file.exists():
        hint = f"; an interrupted save left the previous index at {backup_of(path)}" \
            if (backup_of(path) / MANIFEST).exists() else ""
        raise IndexCorruptError(f"no saved index at {path}: {file} is missing{hint}")
    try:
        m = json.loads(file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise IndexCorruptError(f"{file} is not valid JSON: {e}") from e
    if not isinstance(m, dict) or m.get("format_version") != FORMAT_VERSION:
        version = m.get("format_version") if isinstance(m, dict) else None
        raise IndexCorruptError(f"{file}: unsupported format_version {version!r} (expected {FORMAT_VERSION})")
    return m


def verify_file(file: Path, info: dict[str, Any]) -> None:
    if not file.exists():
        raise IndexCorruptError(f"{file} is missing (listed in the manifest)")
    size = file.stat().st_size
    if size != info["bytes"]:
        raise IndexCorruptError(f"{file} is truncated or altered: {size} bytes, expected {info['bytes']}")
    if _sha256(file) != info["sha256"]:
        raise IndexCorruptError(f"{file} is corrupt: sha256 does not match the manifest")
