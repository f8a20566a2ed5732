"""``MilvusStore``: the ``VectorStore`` protocol on a Milvus collection (a server, a cluster or milvus-lite).

Ids are primary keys and ``add`` upserts; ``modality`` and ``where`` are pushed down as a boolean
expression (``milvus_filter``) and every hit re-checked with unret's own typed filter; ``save`` writes
only where the collection is (``milvus.json``), since the vectors live in Milvus. See docs/scaling-out.md.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from unret.atomic import atomic_write_text
from unret.errors import IndexCorruptError, ModelMismatchError, ReadOnlyIndexError
from unret.index.exact import row_norms
from unret.index.types import Hit, Where
from unret.index.validate import (
    as_id_list,
    as_matrix,
    check_batch,
    check_filters,
    check_norms,
    check_positive_int,
    check_text,
)
from unret.store import milvus_collection as coll
from unret.store.milvus_filter import INT64, quote, string_list, translate
from unret.store.milvus_search import search_rows
from unret.store.milvus_spec import MilvusTarget, parse_spec
from unret.store.registry import register_store

SAVED = "milvus.json"  # what save(path) writes into an index folder
PAGE = 1000  # rows per query page, ids per `id in [...]` and per upsert call


class MilvusStore:
    """Vectors, modalities and JSON metadata in a Milvus collection; filters run in the engine."""

    kind: ClassVar[str] = "milvus"

    def __init__(self, target: MilvusTarget, dim: int | None = None, model: dict | None = None,
                 index: str = "FLAT", create: bool = True, view: bool = False) -> None:
        """Connect to ``target``'s collection, creating it (for ``dim`` and ``model``) when absent and ``create``.

        An existing collection keeps its own model record, which wins over ``model``; a ``dim`` it does
        not hold raises ModelMismatchError. ``view=True`` opens it read-only.
        """
        if dim is not None:
            check_positive_int("dim", dim)
        self.target, self._read_only = target, view
        self._client = coll.connect(target)
        if not self._client.has_collection(target.collection):
            if not create or dim is None:
                self._client.close()
                raise IndexCorruptError(f"Milvus collection {target.collection!r} does not exist at {target.uri}")
            coll.create(self._client, target, dim, model, index)
        self.dim, self.model, self.index_type = coll.open_existing(self._client, target, dim)

    # ------------------------------------------------------------------ lookups

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def client(self) -> Any:
        if self._client is None:
            raise RuntimeError(f"this Milvus store ({self.target.spec}) is closed")
        return self._client

    def _query(self, expr: str, fields: list[str], **kw: Any) -> list[dict]:
        return list(self.client.query(self.target.collection, filter=expr, output_fields=fields, **kw))

    def __len__(self) -> int:
        return int(self._query("", ["count(*)"])[0]["count(*)"])

    def __contains__(self, id: object) -> bool:
        return isinstance(id, str) and bool(self.accepts([id])[0])

    def pages(self, expr: str, fields: list[str], page: int = PAGE) -> Iterator[list[dict]]:
        """Every row matching ``expr``, in pages ordered by id (a cursor on the primary key, quoted safely:
        pymilvus's own ``query_iterator`` splices the last id into the expression unescaped)."""
        last = None
        while True:
            cursor = "" if last is None else f"id > {quote(last)}"
            full = " and ".join(f"({e})" for e in (cursor, expr) if e)
            rows = self._query(full, ["id", *fields], limit=page, iterator="True", reduce_stop_for_best="True")
            if rows:
                yield rows
            if len(rows) < page:
                return
            last = max(r["id"] for r in rows)

    def ids(self) -> Iterator[str]:
        """A snapshot of every id (read page by page up front, so later writes cannot break the iteration)."""
        return iter([r["id"] for rows in self.pages("", []) for r in rows])

    def _rows(self, ids: list[str], fields: list[str], expr: str = "") -> dict[str, dict]:
        found: dict[str, dict] = {}
        for start in range(0, len(ids), PAGE):
            chunk = list(dict.fromkeys(ids[start:start + PAGE]))
            full = " and ".join(f"({e})" for e in (f"id in {string_list(chunk)}", expr) if e)
            found.update((r["id"], r) for r in self._query(full, ["id", *fields], limit=len(chunk)))
        return found

    def get(self, id: str) -> tuple[str, dict]:
        """``(modality, metadata)`` of ``id``; KeyError if absent."""
        row = self._rows(as_id_list([id]), ["modality", "metadata"]).get(id)
        if row is None:
            raise KeyError(id)
        return row["modality"], dict(row["metadata"])

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        """The stored float32 vectors of ``ids``, in order; KeyError naming unknown ids."""
        ids = as_id_list(ids)
        rows = self._rows(ids, ["vector"])
        missing = [i for i in ids if i not in rows]
        if missing:
            raise KeyError(f"unknown id(s): {missing[:5]!r}")
        return np.array([rows[i]["vector"] for i in ids], np.float32).reshape(len(ids), self.dim)

    def modality_counts(self) -> dict[str, int]:
        return dict(Counter(r["modality"] for rows in self.pages("", ["modality"]) for r in rows))

    # ------------------------------------------------------------------ writes

    def _check_writable(self) -> None:
        if self._read_only:
            raise ReadOnlyIndexError(f"this Milvus store ({self.target.spec}) was opened with view=True "
                                     "(read-only); open it with view=False to add or remove")

    def add(self, ids: Sequence[str], vectors: np.ndarray, modalities: str | Sequence[str],
            metadata: Sequence[Mapping[str, Any] | None] | None = None) -> None:
        """Upsert a batch; everything is validated first, so a bad batch changes nothing.

        Milvus has no transactions: the batch goes in calls of ``PAGE`` rows, and a connection lost
        between two leaves the earlier ones written — running the same ``add`` again completes it.
        """
        self._check_writable()
        ids, x, mods, meta_json = check_batch(ids, vectors, modalities, metadata, self.dim)
        n = len(ids)
        rows = []
        for id, vec, m, text in zip(ids, x, mods, meta_json, strict=True):
            _check_fits(id, m)
            _check_int64(id, json.loads(text))
            rows.append({"id": id, "vector": vec, "modality": m, "metadata": json.loads(text)})
        check_norms(row_norms(x), "cos", "vectors", ids)
        for start in range(0, n, PAGE):
            self.client.upsert(self.target.collection, rows[start:start + PAGE])

    def remove(self, ids: str | Iterable[str]) -> int:
        """Remove ids, returning how many; an unknown id raises KeyError and removes nothing."""
        self._check_writable()
        ids = as_id_list(dict.fromkeys([ids] if isinstance(ids, str) else ids))
        found = self._rows(ids, [])
        missing = [i for i in ids if i not in found]
        if missing:
            raise KeyError(f"unknown id(s), nothing removed: {missing[:5]!r}")
        for start in range(0, len(ids), PAGE):
            self.client.delete(self.target.collection, filter=f"id in {string_list(ids[start:start + PAGE])}")
        return len(ids)

    # ------------------------------------------------------------------ filters and search

    def accepts(self, ids: Sequence[str], modality: str | Collection[str] | None = None,
                where: Where | None = None) -> np.ndarray:
        """A bool per id: it exists and passes the filters (one ``id in [...] and expr`` query per page)."""
        ids = as_id_list(ids)
        modality, where = check_filters(modality, where)
        expr = translate(modality, None if callable(where) else where)
        if expr is None or not ids:
            return np.zeros(len(ids), bool)
        rows = self._rows(ids, ["metadata"] if where is not None else [], expr)
        return np.array([i in rows and _passes(where, rows[i].get("metadata")) for i in ids], bool)

    def search(self, queries: np.ndarray, k: int = 10, modality: str | Collection[str] | None = None,
               where: Where | None = None, exact: bool = False) -> list[list[Hit]]:
        """Top-``k`` hits per query row, best first; scores are cosines, as the usearch store's.

        The filters run in Milvus; a ``where`` is re-checked on each hit (over-fetching when that drops
        hits). ``exact=True`` on an approximate index (HNSW on a cluster) scores every matching vector
        here instead; a FLAT collection (milvus-lite's default) is exact already.
        """
        q = as_matrix(queries, "queries", self.dim, allow_1d=True)
        check_positive_int("k", k)
        modality, where = check_filters(modality, where)
        norms = row_norms(q)
        check_norms(norms, "cos", "queries")
        expr = translate(modality, None if callable(where) else where)
        if expr is None:
            return [[] for _ in q]
        accept = None if where is None else (lambda meta: _passes(where, meta))
        found = search_rows(self, (q / norms[:, None]).astype(np.float32), k, expr, accept,
                            exhaustive=exact and self.index_type != "FLAT")
        return [[Hit(r["id"], float(s), r["modality"], dict(r["metadata"])) for r, s in hits] for hits in found]

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike) -> None:
        """Flush Milvus and write ``path/milvus.json``: where the collection is, its dim, model and count.

        No credential is written; the token is read from the environment again when the index is loaded.
        """
        self.client.flush(self.target.collection)
        Path(path).mkdir(parents=True, exist_ok=True)
        record = {"kind": self.kind, "spec": self.target.spec, "uri": self.target.uri,
                  "collection": self.target.collection, "dim": self.dim, "index": self.index_type,
                  "model": self.model, "count": len(self)}
        atomic_write_text(Path(path) / SAVED, json.dumps(record, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike, view: bool = False, expected_dim: int | None = None) -> MilvusStore:
        """Reconnect to the collection ``save(path)`` recorded; named errors for a missing or damaged record."""
        file = Path(path) / SAVED
        try:
            record = json.loads(file.read_text(encoding="utf-8"))
            target, dim = MilvusTarget(record["uri"], record["collection"]), int(record["dim"])
        except FileNotFoundError as e:
            raise IndexCorruptError(f"{file} is missing: {path} holds no Milvus store record") from e
        except (ValueError, KeyError, TypeError) as e:
            raise IndexCorruptError(f"{file} is damaged ({type(e).__name__}: {e})") from e
        if expected_dim is not None and dim != expected_dim:
            raise ModelMismatchError(f"the Milvus store recorded in {file} holds {dim}-dimensional vectors, "
                                     f"not {expected_dim}")
        return cls(target, dim, create=False, view=view)

    def close(self) -> None:
        """Close the connection; the store is unusable afterwards (the data stays in Milvus)."""
        if self._client is not None:
            self._client.close()
            self._client = None



def _passes(where: Where | None, meta: dict | None) -> bool:
    from unret.index.planner import matches

    if where is None:
        return True
    meta = dict(meta or {})
    return bool(where(meta)) if callable(where) else matches(meta, where)


def _check_fits(id: str, modality: Any) -> None:
    """Refuse, by name, what the collection's fields cannot hold."""
    if len(id.encode("utf-8")) > coll.ID_MAX_BYTES:
        raise ValueError(f"id {id[:40]!r}… is longer than Milvus's {coll.ID_MAX_BYTES} bytes")
    if not isinstance(modality, str) or not modality:
        raise ValueError(f"modality of id {id!r} must be a non-empty string, got {modality!r}")
    check_text(f"modality of id {id!r}", modality)
    if len(modality.encode("utf-8")) > coll.MODALITY_MAX_BYTES:
        raise ValueError(f"modality of id {id!r} is longer than {coll.MODALITY_MAX_BYTES} bytes")


def _check_int64(id: str, meta: Any) -> None:
    """Milvus's JSON holds 64-bit integers only: refuse larger ones by name rather than fail mid-upsert."""
    stack = [meta]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, int) and not isinstance(node, bool) and not INT64[0] <= node <= INT64[1]:
            raise ValueError(f"metadata of id {id!r} holds the integer {node}, outside the 64-bit range a "
                             "Milvus JSON field stores; store it as a string")


def _factory(spec: str, dim: int, model: dict | None = None, **options: Any) -> MilvusStore:
    return MilvusStore(parse_spec(spec), dim, model, **options)


register_store(MilvusStore.kind, _factory, MilvusStore.load)
