"""Where indexed documents live: the vector store protocol, its implementations, and the DocumentStore.

* ``protocol``: `VectorStore`, what every vector store offers (the embedded usearch `VectorIndex`, Milvus);
* ``registry``: store kinds by name and the ``--store`` specification parser (``open_store``).
"""

from unret.store.protocol import VectorStore
from unret.store.registry import load_store, open_store, register_store, store_kinds

__all__ = ["VectorStore", "load_store", "open_store", "register_store", "store_kinds"]
