"""DocumentStore: the documents of one index — their vectors, their text, and how the folder holds both.

It owns the vector side (a `VectorStore`: usearch by default, Milvus…) and the lexical side (BM25 texts)
and keeps them in step: an add or remove changes both, ``save`` commits both and the config in one
all-or-nothing swap (``unret.store.commit``), and ``load`` reads one commit. `UnifiedRetriever`, the files
indexer, ``unret remove`` / ``info`` and the server reach documents only through it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unret.atomic import atomic_write_text
from unret.errors import ConfigError
from unret.index import Hit, Where
from unret.search.bm25 import LexicalIndex
from unret.search.catalog import reconcile
from unret.store.commit import commit, reading
from unret.store.layout import CONFIG_NAME, INDEX_DIR, LEXICAL_DIR, read_commit, read_settings
from unret.store.protocol import VectorStore
from unret.store.registry import load_store, open_store
from unret.store.writer_lock import writing

SOURCE_FIELDS = ("size", "mtime_ns", "sha256", "chunking")  # what incremental indexing compares per file


class DocumentStore:
    """Vectors + texts + the store's own config; ``spec`` (``{"kind": "usearch"}``, ``{"kind": "milvus",
    "uri": …}``) is written to the config so ``load`` reopens the same kind of store."""

    def __init__(self, vectors: VectorStore, lexical: LexicalIndex | None = None,
                 spec: Mapping[str, Any] | None = None, commit: str | None = None):
        self.vectors = vectors
        self._lexical = lexical  # None until needed for an index saved without one (built from the catalog)
        self.spec = dict(spec or {"kind": vectors.kind})
        self.commit = commit  # the commit id of the save this state was loaded from or last saved as

    @classmethod
    def create(cls, dim: int, model: dict | None = None, store: str | None = None, **options: Any) -> DocumentStore:
        """An empty store of the kind ``store`` names (None / ``"usearch"``: the embedded default)."""
        try:
            vectors = open_store(store, dim, model, **options)
        except ValueError as e:  # an unknown kind: a setting, named (the CLI's exit code 2)
            raise ConfigError(str(e)) from e
        spec = {"kind": vectors.kind} if store in (None, vectors.kind) else {"kind": vectors.kind, "uri": store}
        return cls(vectors, LexicalIndex(), spec)

    # ------------------------------------------------------------------ lookups

    @property
    def lexical(self) -> LexicalIndex:
        """The BM25 side, built from the catalog's source files for an index saved without one."""
        if self._lexical is None:
            self._lexical = reconcile(LexicalIndex(), self.vectors)
        return self._lexical

    @property
    def lexical_if_built(self) -> LexicalIndex | None:
        return self._lexical

    @property
    def read_only(self) -> bool:
        return self.vectors.read_only

    @property
    def dim(self) -> int:
        return self.vectors.dim

    @property
    def model(self) -> dict | None:
        return self.vectors.model

    def __len__(self) -> int:
        return len(self.vectors)

    def __contains__(self, id: object) -> bool:
        return id in self.vectors

    def ids(self) -> Iterator[str]:
        return self.vectors.ids()

    def get(self, id: str) -> tuple[str, dict]:
        """``(modality, metadata)``; KeyError if ``id`` is not indexed."""
        return self.vectors.get(id)

    def text(self, id: str) -> str | None:
        """The indexed text of ``id`` (None if absent)."""
        return self.lexical.text(id)

    def texts(self, ids: Iterable[str]) -> dict[str, str | None]:
        lexical = self.lexical
        return {i: lexical.text(i) for i in ids}

    def modality_counts(self) -> dict[str, int]:
        return self.vectors.modality_counts()

    def sources(self) -> dict[str, dict[str, Any]]:
        """Per indexed file (metadata ``source``): its ids and the size, mtime and hash recorded at embedding."""
        sources: dict[str, dict[str, Any]] = {}
        for item_id in self.vectors.ids():
            meta = self.vectors.get(item_id)[1]
            source = meta.get("source")
            if source is None:
                continue
            entry = sources.setdefault(source, {"ids": [], **{k: meta.get(k) for k in SOURCE_FIELDS}})
            entry["ids"].append(item_id)
            if meta.get("chunks") is not None:  # how many chunks the file had: one removed re-embeds it
                entry["chunks"] = meta["chunks"]
        return sources

    def accepts(self, ids: Sequence[str], modality: str | Collection[str] | None = None,
                where: Where | None = None) -> np.ndarray:
        """A bool per id: indexed and passing the filters, with the vector store's (JSON-typed) semantics."""
        return self.vectors.accepts(ids, modality, where)

    def search(self, queries: np.ndarray, k: int = 10, modality: str | Collection[str] | None = None,
               where: Where | None = None, exact: bool = False) -> list[list[Hit]]:
        return self.vectors.search(queries, k=k, modality=modality, where=where, exact=exact)

    # ------------------------------------------------------------------ writes

    def add(self, ids: Sequence[str], vectors: np.ndarray, modalities: Sequence[str],
            metadata: Sequence[Mapping[str, Any] | None], texts: Sequence[str]) -> None:
        """Add (or replace) documents on both sides; a batch the vector store refuses changes neither."""
        lexical = self.lexical  # before the vectors: an older index's lexical side is rebuilt without these
        self.vectors.add(list(ids), vectors, list(modalities), list(metadata))
        lexical.add(list(ids), list(texts))

    def remove(self, ids: str | Iterable[str]) -> int:
        """Remove from both sides; an unknown id raises KeyError and removes nothing."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        n = self.vectors.remove(ids)
        if self._lexical is not None:
            self._lexical.remove(ids)
        return n

    def reconcile(self) -> DocumentStore:
        """Bring the lexical side in step with the vectors (folders saved by older unret, in parts)."""
        if self._lexical is not None:
            reconcile(self._lexical, self.vectors)
        return self

    def close(self) -> None:
        self.vectors.close()

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | Path, config: Mapping[str, Any],
             write_extra: Callable[[Path], None] | None = None) -> str:
        """Commit vectors, texts and ``config`` (plus what ``write_extra(folder)`` writes, e.g. the model) to
        ``path`` all at once, holding its writer lock; returns the new commit id. Raises and changes
        nothing on disk if any part fails (`IndexLockedError` if another process is writing ``path``)."""
        new_commit = uuid.uuid4().hex
        full = {**config, "store": self.spec, "commit": new_commit}

        def write(tmp: Path) -> None:
            if write_extra is not None:
                write_extra(tmp)
            self.vectors.save(tmp / INDEX_DIR)
            self.lexical.save(tmp / LEXICAL_DIR)
            atomic_write_text(tmp / CONFIG_NAME, json.dumps(full, indent=2))  # last: marks a complete folder

        with writing(path):
            commit(path, write)
        self.commit = new_commit
        return new_commit

    @classmethod
    def load(cls, path: str | Path, view: bool = False, expected_dim: int | None = None,
             lexical: bool = True) -> DocumentStore:
        """Read the one commit at ``path`` (vectors through the store kind its config names, then texts;
        ``lexical=False`` skips the texts, for a reader that needs only the catalog)."""
        with reading(path) as source:
            config = read_settings(source / CONFIG_NAME)
            spec = config.get("store", {"kind": "usearch"})
            vectors = load_store(spec["kind"], source / INDEX_DIR, view=view, expected_dim=expected_dim)
            texts = LexicalIndex.load(source / LEXICAL_DIR) if lexical and (source / LEXICAL_DIR).is_dir() else None
        return cls(vectors, texts, spec, config.get("commit")).reconcile()

    def changed_on_disk(self, path: str | Path) -> bool:
        """Whether another process has committed to ``path`` since this state was loaded or saved."""
        return read_commit(path) != self.commit
