"""The search service behind the HTTP API: one loaded `UnifiedRetriever`, its locks, and persistence.

Kept free of FastAPI so its concurrency rules are testable directly: queries are encoded one batch at a
time (``encode_lock``: the model and its tokenizer are shared), ranked under the read side of a
readers–writer lock (usearch and BM25 serve concurrent readers), and every add or remove runs under the
write side and is saved with the index's all-or-nothing save before it is acknowledged.

One writer per index folder (``unret.store.writer_lock``): each write takes the folder's writer lock
(another process holding it — an ``unret index`` run — refuses the write with `IndexLockedError`, HTTP
423), reloads the folder first if another process committed to it since, then applies and saves. So a
server and an ``unret index`` run on one folder never lose each other's writes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unret.errors import InputError, ReadOnlyIndexError
from unret.index import Hit, Where
from unret.items import Item
from unret.retriever import UnifiedRetriever
from unret.search import Retriever, check_mode, modes
from unret.serve.rwlock import ReadWriteLock
from unret.store.writer_lock import writing


class SearchService:
    """Thread-safe search, lookup, add / remove and embedding over one saved index folder."""

    def __init__(self, retriever: UnifiedRetriever, index_dir: str | Path | None, read_only: bool = False):
        self.retriever, self.read_only = retriever, read_only
        self.index_dir = None if index_dir is None else Path(index_dir)
        self.lock = ReadWriteLock()
        self.encode_lock = threading.Lock()
        self._counts: dict[str, int] | None = None
        if retriever.store is None:
            raise InputError("the retriever has no index to serve: add documents and save it, then serve the folder")

    @classmethod
    def load(cls, index_dir: str | Path, view: bool = False, device: str | None = None) -> SearchService:
        """Load a folder written by ``UnifiedRetriever.save`` (``view=True``: memory-mapped, read-only)."""
        return cls(UnifiedRetriever.load(index_dir, view=view, device=device), index_dir, read_only=view)

    @property
    def model_name(self) -> str:
        return str(self.retriever.model_ref.get("name_or_path") or type(self.retriever.backbone).__name__)

    # ------------------------------------------------------------------ reads

    def searcher(self, mode: str, exact: bool = False, task: str | None = None, fusion: str = "rrf",
                 alpha: float = 0.5) -> Retriever:
        with self.lock.read():  # the lexical index may be built from the catalog on first use
            return self.retriever.retriever(check_mode(mode), exact=exact, fusion=fusion, alpha=alpha, task=task)

    def search(self, queries: Sequence[Item], k: int = 10, modality: str | Sequence[str] | None = None,
               where: Where | None = None, mode: str = "dense", exact: bool = False, task: str | None = None,
               fusion: str = "rrf", alpha: float = 0.5) -> list[list[Hit]]:
        """One list of hits per query; the same ranking as ``UnifiedRetriever.search`` with these settings."""
        searcher = self.searcher(mode, exact=exact, task=task, fusion=fusion, alpha=alpha)
        with self.encode_lock:
            batch = searcher.prepare(list(queries))
        with self.lock.read():
            return searcher.search_prepared(batch, k=k, modality=modality, where=where)

    def get(self, id: str) -> dict[str, Any]:
        """``{"id", "modality", "metadata", "text"}``; KeyError if ``id`` is not indexed."""
        with self.lock.read():
            store = self.retriever.store
            modality, metadata = store.get(id)
            text = store.text(id)
        return {"id": id, "modality": modality, "metadata": metadata, "text": text}

    def texts(self, ids: Sequence[str]) -> dict[str, str | None]:
        """Indexed texts of ``ids`` (for snippets); builds the lexical index if this is its first use."""
        with self.lock.read():
            return self.retriever.store.texts(ids)

    def info(self) -> dict[str, Any]:
        with self.lock.read():
            if self._counts is None:
                self._counts = self.retriever.store.modality_counts()
            counts = dict(self._counts)
        return {"model": self.model_name, "dim": self.retriever.dim, "count": sum(counts.values()),
                "modalities": counts, "read_only": self.read_only, "modes": list(modes()),
                "model_modalities": sorted(self.retriever.modalities)}

    def embed(self, inputs: Sequence[Item], role: str = "document", dimensions: int | None = None,
              task: str | None = None) -> np.ndarray:
        """Vectors of ``inputs`` in ``role``; ``dimensions`` truncates (Matryoshka) and re-normalises."""
        if dimensions is not None and not 1 <= dimensions <= self.retriever.dim:
            raise InputError(f"dimensions must be between 1 and {self.retriever.dim}, got {dimensions}")
        with self.encode_lock:
            return self.retriever.encode(list(inputs), role=role, task=task if role == "query" else None,
                                         truncate_dim=dimensions, convert_to="numpy")

    # ------------------------------------------------------------------ writes

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyIndexError("this server runs with --view (read-only): restart it without --view to write")

    def add(self, items: Sequence[Item], ids: Sequence[str], metadata: Sequence[Mapping[str, Any] | None]) -> None:
        """Index and persist; nothing is stored or served unless every document embeds and the save succeeds."""
        self._check_writable()
        with self.lock.write(), self.encode_lock, self._writer():
            self.retriever.add(list(items), ids=list(ids), metadata=list(metadata))
            self._counts = None
            self._save()

    def remove(self, id: str) -> None:
        """Remove one id and persist (a failed save puts it back); KeyError if it is not indexed."""
        self._check_writable()
        with self.lock.write(), self._writer():
            self.retriever.remove([id])
            self._counts = None
            self._save()

    @contextlib.contextmanager
    def _writer(self) -> Iterator[None]:
        """Hold the folder's writer lock for one write, starting from what the disk holds now."""
        if self.index_dir is None:
            yield
            return
        with writing(self.index_dir):
            if self.retriever.store.changed_on_disk(self.index_dir):  # another process committed meanwhile
                self.retriever.reload_index(self.index_dir)
                self._counts = None
            yield

    def _save(self) -> None:
        """Persist a write, or put the last saved state back in memory: the save is all or nothing, so the
        disk still holds the state before the change, and an unacknowledged change is never served."""
        if self.index_dir is None:
            return
        try:
            self.retriever.save(self.index_dir)
        except BaseException as failed:
            try:
                self.retriever.reload_index(self.index_dir)
            except Exception as e:  # the folder is unreadable too: keep serving memory, say so
                failed.add_note(f"and going back to the saved index at {self.index_dir} failed: {e}; "
                                "the change stays in memory only")
            raise
