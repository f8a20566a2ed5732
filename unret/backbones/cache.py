"""A per-backbone cache of item embeddings, so frozen backbones embed each item once.

Training a fusion head over frozen backbones would otherwise re-run two large models over the same
corpus every epoch. Keys are content keys (`unret.keys.item_key`: role, instruction, modality, text,
language, image content); values live in memory and, with a folder, in a SQLite file named after the
backbone's identity (`unret.backbones.identity.model_digest`) so a different model can never read them.

The SQLite connection opens on first use, in the process that uses it: ``FusedBackbone`` reads and writes
the cache in ``forward`` (the process holding the model), never in ``prepare``, which may run in a
DataLoader worker where a connection inherited across ``fork`` is unsafe.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch


class EmbeddingCache:
    """Vectors by item key; ``folder`` makes them persist across runs (one SQLite file per backbone)."""

    def __init__(self, fingerprint: str, folder: str | Path | None = None):
        self._memory: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self.path = Path(folder) / f"{fingerprint}.sqlite" if folder is not None else None

    def __len__(self) -> int:
        return len(self._memory)

    def _connection(self) -> sqlite3.Connection | None:
        if self.path is not None and self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        return self._db

    def get(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors among ``keys``."""
        with self._lock:
            found = {k: self._memory[k] for k in keys if k in self._memory}
            missing = [k for k in keys if k not in found]
            db = self._connection() if missing else None
            if db is not None:
                for start in range(0, len(missing), 500):
                    chunk = missing[start : start + 500]
                    rows = db.execute(
                        f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(chunk))})", chunk
                    ).fetchall()
                    for key, blob in rows:
                        self._memory[key] = found[key] = np.frombuffer(blob, dtype=np.float32)
            return found

    def put(self, keys: Sequence[str], vectors: torch.Tensor) -> None:
        """Store one vector per key (float32), in memory and in the SQLite file if there is one."""
        arrays = vectors.detach().float().cpu().numpy()
        with self._lock:
            for key, vec in zip(keys, arrays, strict=True):
                self._memory[key] = vec.copy()
            db = self._connection()
            if db is not None:
                db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                               [(k, v.tobytes()) for k, v in zip(keys, arrays, strict=True)])
                db.commit()

    def close(self) -> None:
        """Close the SQLite connection (reopened on next use)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
