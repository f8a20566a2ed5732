"""The index folder's names and its one config parser (no torch: ``unret --help`` and the CLI's checks use it).

An index folder (``UnifiedRetriever.save``) holds::

    unret_config.json   format_version, model reference, backbone settings, store kind, commit id
    index/              the usearch vector index (its own manifest and checksums; see unret.index.storage)
    lexical/            the BM25 side: lexical.jsonl, every document's text
    model/              the weights, when saved with include_model=True

Every save replaces the whole folder at once (``unret.store.commit``); the config's ``commit`` (a fresh id
per save) tells a process whether the folder changed since it loaded it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from unret.errors import IndexCorruptError

CONFIG_NAME = "unret_config.json"
INDEX_DIR = "index"
LEXICAL_DIR = "lexical"
MODEL_DIR = "model"
FORMAT_VERSION = 1


def read_settings(file: Path) -> dict[str, Any]:
    """A saved ``unret_config.json`` (``save`` or ``save_pretrained``), checked: IndexCorruptError naming the
    file if it is truncated, not an object, of a ``format_version`` this unret does not read, or without a
    'backbone' object naming its ``kind``."""
    try:
        config = json.loads(Path(file).read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise IndexCorruptError(f"{file} is not valid JSON (truncated or damaged?): {e}") from e
    version = config.get("format_version") if isinstance(config, dict) else None
    if type(version) is not int or version != FORMAT_VERSION:
        raise IndexCorruptError(f"{file}: unsupported format_version {version!r} (this unret reads "
                                f"{FORMAT_VERSION}); it may have been written by a newer unret")
    backbone = config.get("backbone")
    if not isinstance(backbone, dict) or not isinstance(backbone.get("kind"), str):
        raise IndexCorruptError(f"{file}: needs a 'backbone' object (with 'kind')")
    store = config.get("store", {"kind": "usearch"})
    if not isinstance(store, dict) or not isinstance(store.get("kind"), str):
        raise IndexCorruptError(f"{file}: 'store' must be an object naming its 'kind', got {store!r}")
    return config


def read_config(file: Path) -> dict[str, Any]:
    """A saved index's ``unret_config.json``: ``read_settings`` plus the model reference ``load`` follows."""
    config = read_settings(file)
    model = config.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("name_or_path"), str):
        raise IndexCorruptError(f"{file}: needs 'model' (with 'name_or_path') and 'backbone' (with 'kind') objects")
    return config


def read_commit(folder: Path) -> str | None:
    """The commit id of the save now at ``folder`` (None: no folder, or one saved before commit ids)."""
    try:
        config = json.loads((Path(folder) / CONFIG_NAME).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return config.get("commit") if isinstance(config, dict) else None
