"""Where indexed documents live: the vector store protocol, its implementations, and the DocumentStore.

* ``protocol``: `VectorStore`, what every vector store offers (the embedded usearch `VectorIndex`, Milvus);
* ``registry``: store kinds by name and the ``--store`` specification parser (``open_store``);
* ``layout``: the index folder's names and its one config parser;
* ``commit``: the all-or-nothing save of a whole index folder, and reads that see one commit;
* ``writer_lock``: one writer per index folder;
* ``document_store``: `DocumentStore`, vectors + texts + config of one index.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {  # imported lazily: the CLI reads the folder layout without loading numpy, usearch or bm25s
    "DocumentStore": "unret.store.document_store",
    "VectorStore": "unret.store.protocol",
    "load_store": "unret.store.registry",
    "open_store": "unret.store.registry",
    "register_store": "unret.store.registry",
    "store_kinds": "unret.store.registry",
}
__all__ = ["DocumentStore", "VectorStore", "load_store", "open_store", "register_store", "store_kinds"]

if TYPE_CHECKING:
    from unret.store.document_store import DocumentStore
    from unret.store.protocol import VectorStore
    from unret.store.registry import load_store, open_store, register_store, store_kinds


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'unret.store' has no attribute {name!r}")
