"""The search service behind the HTTP API: one loaded `UnifiedRetriever`, its locks, and persistence.

Kept free of FastAPI so its concurrency rules are testable directly: queries are encoded one batch at a
time (``encode_lock``: the model and its tokenizer are shared), ranked under the read side of a
readers–writer lock (usearch and BM25 serve concurrent readers), and every add or remove runs under the
write side and is saved with the index's atomic save before it is acknowledged.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unret.errors import InputError, ReadOnlyIndexError
from unret.index import Hit, Where
from unret.items import Item
from unret.retriever import UnifiedRetriever
from unret.search import Retriever, check_mode, modes
from unret.serve.rwlock import ReadWriteLock


class SearchService:
    """Thread-safe search, lookup, add / remove and embedding over one saved index folder."""

    def __init__(self, retriever: UnifiedRetriever, index_dir: str | Path | None, read_only: bool = False):
        self.retriever, self.read_only = retriever, read_only
        self.index_dir = None if index_dir is None else Path(index_dir)
        self.lock = ReadWriteLock()
        self.encode_lock = threading.Lock()
        self._counts: dict[str, int] | None = None
        if retriever.index is None:
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
            modality, metadata = self.retriever.index.get(id)
            lexical = self.retriever.lexical
            text = lexical.text(id) if lexical is not None else None
        return {"id": id, "modality": modality, "metadata": metadata, "text": text}

    def texts(self, ids: Sequence[str]) -> dict[str, str | None]:
        """Indexed texts of ``ids`` (for snippets); builds the lexical index if this is its first use."""
        with self.lock.read():
            lexical = self.retriever._lexical()
            return {i: lexical.text(i) for i in ids}

    def info(self) -> dict[str, Any]:
        with self.lock.read():
            if self._counts is None:
                index = self.retriever.index
                self._counts = dict(Counter(index.get(i)[0] for i in index.ids()))
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
        """Index and persist. If the save fails, memory goes back to what the disk holds (usually without the
        change; with it when only the BM25 side or config failed), so nothing a restart would lose is served."""
        self._check_writable()
        with self.lock.write(), self.encode_lock:
            self.retriever.add(list(items), ids=list(ids), metadata=list(metadata))
            self._counts = None
            self._save()

    def remove(self, id: str) -> None:
        """Remove one id and persist (a failed save puts it back); KeyError if it is not indexed."""
        self._check_writable()
        with self.lock.write():
            self.retriever.remove([id])
            self._counts = None
            self._save()

    def _save(self) -> None:
        """Persist a write, or put the last saved state back in memory: an unacknowledged change is never
        served (searches would return what a restart forgets)."""
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
