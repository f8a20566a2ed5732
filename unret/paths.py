"""Where unret keeps what it builds or caches: one root, ``$UNRET_CACHE`` or ``~/.cache/unret``.

Tiny test checkpoints, unpacked offline models and evaluation's corpus embeddings all live under it, so
one variable moves (or one ``rm -r`` clears) every cache.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """The cache root: ``$UNRET_CACHE`` if set, else ``~/.cache/unret``."""
    return Path(os.environ.get("UNRET_CACHE", Path.home() / ".cache" / "unret")).expanduser()


def embeddings_cache_dir() -> Path:
    """Where ``unret evaluate`` caches corpus embeddings by default."""
    return cache_root() / "embeddings"
