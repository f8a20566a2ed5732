"""The catalog: string ids ↔ integer keys ↔ rows, each row's modality and JSON metadata, and its SQLite form.

Live state is kept in numpy arrays, lists and dicts (a search resolves hundreds of keys, and a dict/array
lookup is ~100× cheaper than an SQL round trip); SQLite is only the on-disk form. Keys come from a
monotonic counter and are never reused (usearch forbids reusing a removed key), so ``key_row`` maps every
key ever issued to its row, or -1 once removed.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

from unret.errors import IndexCorruptError
from unret.index.exact import grow


class Catalog:
    """Row-aligned ids, modalities and metadata; rows ``0..n-1`` are live."""

    def __init__(self) -> None:
        self.n = 0
        self.next_key = 0
        self.key_row = np.empty(0, np.int64)  # key -> row, -1 once removed
        self.mod = np.empty(0, np.int32)
        self.row_key = np.empty(0, np.int64)
        self.ids: list[str] = []
        self.meta: list[str] = []  # JSON text: every hit gets a fresh dict, nobody aliases the catalog
        self.key_of_id: dict[str, int] = {}
        self.modality_names: list[str] = []
        self.modality_code: dict[str, int] = {}

    def __contains__(self, id: object) -> bool:
        return id in self.key_of_id

    def row_of(self, id: str) -> int:
        if id not in self.key_of_id:
            raise KeyError(f"unknown id {id!r}")
        return int(self.key_row[self.key_of_id[id]])

    def modality(self, row: int) -> str:
        return self.modality_names[self.mod[row]]

    def metadata(self, row: int) -> dict:
        return json.loads(self.meta[row])

    def new_keys(self, n: int) -> np.ndarray:
        keys = np.arange(self.next_key, self.next_key + n, dtype=np.uint64)
        self.next_key += n
        return keys

    def append(self, ids: list[str], keys: np.ndarray, modalities: list[str], meta_json: list[str]) -> np.ndarray:
        """Append rows for fresh ``keys``; returns their row numbers."""
        n = len(ids)
        codes = [self.modality_code.setdefault(m, len(self.modality_code)) for m in modalities]
        self.modality_names = list(self.modality_code)
        rows = np.arange(self.n, self.n + n)
        self.mod = grow(self.mod, self.n + n)
        self.row_key = grow(self.row_key, self.n + n)
        self.mod[rows] = codes
        self.row_key[rows] = keys
        self.key_row = grow(self.key_row, self.next_key, fill=-1)
        self.key_row[keys.astype(np.int64)] = rows
        self.ids.extend(ids)
        self.meta.extend(meta_json)
        self.key_of_id.update(zip(ids, keys.tolist(), strict=True))
        self.n += n
        return rows

    def remove_key(self, key: int) -> tuple[int, int]:
        """Drop ``key``'s row by moving the last row into it; returns ``(row, last)`` so row-aligned
        stores can make the same move."""
        row, last = int(self.key_row[key]), self.n - 1
        moved = int(self.row_key[last])
        del self.key_of_id[self.ids[row]]
        self.mod[row], self.row_key[row] = self.mod[last], self.row_key[last]
        self.ids[row], self.meta[row] = self.ids[last], self.meta[last]
        self.ids.pop()
        self.meta.pop()
        self.key_row[moved], self.key_row[key] = row, -1
        self.n -= 1
        return row, last

    # ------------------------------------------------------------------ SQLite

    def write_sqlite(self, file: Path) -> None:
        con = sqlite3.connect(file)
        try:
            con.execute("CREATE TABLE items (row INTEGER PRIMARY KEY, key INTEGER NOT NULL UNIQUE, "
                        "id TEXT NOT NULL UNIQUE, modality TEXT NOT NULL, metadata TEXT NOT NULL)")
            con.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?)", (
                (r, int(self.row_key[r]), self.ids[r], self.modality(r), self.meta[r]) for r in range(self.n)))
            con.commit()
        finally:
            con.close()

    @classmethod
    def read_sqlite(cls, file: Path, next_key: int) -> Catalog:
        """Rebuild a catalog from its SQLite file; keys must be unique and below ``next_key``."""
        con = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
        try:
            items = con.execute("SELECT key, id, modality, metadata FROM items ORDER BY row").fetchall()
        except sqlite3.DatabaseError as e:
            raise IndexCorruptError(f"{file} is not a readable catalog: {e}") from e
        finally:
            con.close()
        self = cls()
        keys = np.array([it[0] for it in items], np.int64)
        if len(keys) and (keys.min() < 0 or keys.max() >= next_key or len(np.unique(keys)) != len(keys)):
            raise IndexCorruptError(f"{file}: keys are not unique integers below next_key {next_key}")
        self.n, self.next_key = len(items), next_key
        self.row_key = keys
        self.key_row = np.full(next_key, -1, np.int64)
        self.key_row[keys] = np.arange(self.n)
        self.ids = [it[1] for it in items]
        self.meta = [it[3] for it in items]
        self.key_of_id = dict(zip(self.ids, keys.tolist(), strict=True))
        codes = self.modality_code
        self.mod = np.array([codes.setdefault(it[2], len(codes)) for it in items], np.int32)
        self.modality_names = list(codes)
        return self
