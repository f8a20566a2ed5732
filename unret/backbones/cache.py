"""A per-backbone cache of item embeddings, so frozen backbones embed each item once.

Training a fusion head over frozen backbones would otherwise re-run two large models over the same
corpus every epoch. Keys hash everything that decides a vector (role, instruction, modality, text,
language, image content); values live in memory and, with a folder, in a SQLite file named after the
backbone's fingerprint so a different model can never read them.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from unret.items import Item


def item_key(item: Item, role: str, instruction: str | None) -> str:
    """A content hash of one item as one backbone would embed it."""
    h = hashlib.sha256()
    for part in (role, instruction or "", item.modality, item.text or "", item.language or ""):
        h.update(part.encode("utf-8", "surrogatepass") + b"\x00")
    if isinstance(item.image, Image.Image):
        h.update(f"{item.image.mode}{item.image.size}".encode())
        h.update(item.image.tobytes())
    elif item.image is not None:
        stat = Path(item.image).stat()
        h.update(f"{Path(item.image).resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return h.hexdigest()


class EmbeddingCache:
    """Vectors by item key; ``folder`` makes them persist across runs (one SQLite file per backbone)."""

    def __init__(self, fingerprint: str, folder: str | Path | None = None):
        self._memory: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if folder is not None:
            Path(folder).mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(Path(folder) / f"{fingerprint}.sqlite", check_same_thread=False)
            self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")

    def __len__(self) -> int:
        return len(self._memory)

    def get(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors among ``keys``."""
        with self._lock:
            found = {k: self._memory[k] for k in keys if k in self._memory}
            missing = [k for k in keys if k not in found]
            if self._db is not None and missing:
                for start in range(0, len(missing), 500):
                    chunk = missing[start : start + 500]
                    rows = self._db.execute(
                        f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(chunk))})", chunk
                    ).fetchall()
                    for key, blob in rows:
                        self._memory[key] = found[key] = np.frombuffer(blob, dtype=np.float32)
            return found

    def put(self, keys: Sequence[str], vectors: torch.Tensor) -> None:
        arrays = vectors.detach().float().cpu().numpy()
        with self._lock:
            for key, vec in zip(keys, arrays, strict=True):
                self._memory[key] = vec.copy()
            if self._db is not None:
                self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                                     [(k, v.tobytes()) for k, v in zip(keys, arrays, strict=True)])
                self._db.commit()
