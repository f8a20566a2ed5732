"""Saving and loading a ``VectorIndex``: which files, in which order, under which lock.

``folder`` decides what may be replaced and swaps folders; ``storage`` writes and checks the manifest;
this module puts the index's parts (ANN backend, float32 store, catalog) into and out of them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from unret.errors import IndexCorruptError, ManifestMismatchError
from unret.index import folder, storage
from unret.index.catalog import Catalog

if TYPE_CHECKING:
    from unret.index.vector_index import VectorIndex

def save(index: VectorIndex, path: str | os.PathLike) -> None:
    """Write ``index`` to a temp folder next to ``path``, then swap it in (``VectorIndex.save``)."""

    def write(tmp: Path) -> None:
        with index._lock:
            shards = index._ann.save(tmp)
            for s in shards:
                storage.safe_name(s["file"])
            np.save(tmp / storage.VECTORS, index._store.vecs[: index._catalog.n])
            index._catalog.write_sqlite(tmp / storage.CATALOG)
            files = [s["file"] for s in shards] + [storage.VECTORS, storage.CATALOG]
            manifest = {**index._manifest(shards), "files": storage.file_entries(tmp, files)}
        storage.write_manifest(tmp, manifest)

    folder.replace(path, write)


def load(cls: type[VectorIndex], path: str | os.PathLike, view: bool, expected_model: dict | None,
         expected_dim: int | None) -> VectorIndex:
    """Load the index at ``path`` under a shared lock, after putting back a save a crash left aside."""
    path = folder.real_path(path)
    folder.clean_stale(path)
    source, backup = path, folder.backup_of(path)
    if backup.exists() or backup.is_symlink():  # left by a crash: between a save's renames, or after them
        with folder.locked(path, exclusive=True):
            source = folder.recover(path)
            folder.drop_backup(path)
    with folder.locked(source, exclusive=False):
        return _load(cls, source, view, expected_model, expected_dim)


def _load(cls: type[VectorIndex], path: Path, view: bool, expected_model: dict | None,
          expected_dim: int | None) -> VectorIndex:
    m = storage.read_manifest(path)
    if expected_dim is not None and m["dim"] != expected_dim:
        raise ManifestMismatchError(f"index at {path} has dim {m['dim']}, expected dim {expected_dim}")
    if expected_model is not None and m["model"] != expected_model:
        raise ManifestMismatchError(
            f"index at {path} was built with model {m['model']!r}, expected model {expected_model!r}")
    for name, info in m["files"].items():
        storage.verify_file(path / name, info)
    try:
        self = cls._from_manifest(m)
    except (TypeError, ValueError) as e:
        raise IndexCorruptError(f"{path / folder.MANIFEST}: invalid settings: {e}") from e
    self._ann = self._backend_cls.restore(path, m["shards"], self.dim, self.metric, view, **self._options())
    # mmap_mode="c" (copy-on-write) rather than "r": torch.from_numpy needs a writable array.
    try:
        vecs = np.load(path / storage.VECTORS, mmap_mode="c" if view else None, allow_pickle=False)
    except ValueError as e:
        raise IndexCorruptError(f"{path / storage.VECTORS} is not a float32 array file: {e}") from e
    if vecs.dtype != np.float32 or vecs.ndim != 2 or vecs.shape[1] != self.dim:
        raise IndexCorruptError(f"{path / storage.VECTORS} holds {vecs.dtype} {vecs.shape}, not float32 "
                                f"(n, {self.dim})")
    self._catalog = Catalog.read_sqlite(path / storage.CATALOG, m["next_key"])
    n = self._catalog.n
    if not (n == len(vecs) == m["count"] == sum(s["count"] for s in m["shards"])):
        raise IndexCorruptError(f"{path}: manifest count {m['count']}, {n} catalog rows and "
                                f"{len(vecs)} vectors disagree")
    self._store.attach(vecs)
    self._read_only = view
    return self
