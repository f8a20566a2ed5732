"""The vector store protocol: what dense search, the lexical filters and the DocumentStore need.

`unret.index.VectorIndex` (usearch, embedded, the default) and the Milvus store implement it. Filters are
pushed down: ``search`` and ``accepts`` take ``modality`` and ``where`` and the store applies them itself
(a remote engine translates them to its own expressions). ``where`` is a dict compared with JSON types —
``True`` is not ``1``, ``"1"`` is not ``1``, ``1 == 1.0``, lists element-wise — or a callable on the
metadata, which a remote store may evaluate client-side.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from unret.index.types import Hit, Where


@runtime_checkable
class VectorStore(Protocol):
    """Vectors with string ids (primary keys), a modality (a scalar field) and JSON metadata each."""

    kind: ClassVar[str]  # the registry name: "usearch", "milvus"
    dim: int
    model: dict | None  # the model reference and fingerprint the vectors were made with

    @property
    def read_only(self) -> bool: ...

    def __len__(self) -> int: ...

    def __contains__(self, id: object) -> bool: ...

    def ids(self) -> Iterator[str]:
        """A snapshot of every id."""

    def get(self, id: str) -> tuple[str, dict]:
        """``(modality, metadata)`` of ``id``; KeyError if absent."""

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        """The stored float32 vectors of ``ids``, ``(len(ids), dim)``; KeyError for an unknown id."""

    def add(self, ids: Sequence[str], vectors: np.ndarray, modalities: str | Sequence[str],
            metadata: Sequence[Mapping[str, Any] | None] | None = None) -> None:
        """Insert a batch; an id already present is replaced (upsert). All validated before anything changes."""

    def remove(self, ids: str | Iterable[str]) -> int:
        """Remove ids, returning how many; an unknown id raises KeyError and removes nothing."""

    def search(self, queries: np.ndarray, k: int = 10, modality: str | Collection[str] | None = None,
               where: Where | None = None, exact: bool = False) -> list[list[Hit]]:
        """Top-``k`` hits per query row, best first, filters applied by the store."""

    def accepts(self, ids: Sequence[str], modality: str | Collection[str] | None = None,
                where: Where | None = None) -> np.ndarray:
        """A bool per id: does it exist and pass the filters? One batched call (the lexical and rerank
        stages filter their candidates with it, with the same semantics as ``search``)."""

    def modality_counts(self) -> dict[str, int]:
        """Items per modality."""

    def save(self, path: Any) -> None:
        """Write into the folder ``path`` (an index folder's ``index/``, inside the DocumentStore's commit)
        what the kind's registered loader needs to reopen this store: the vectors themselves (usearch), or
        where the collection is (a remote engine)."""

    def close(self) -> None:
        """Release connections and files; the store is unusable afterwards."""
