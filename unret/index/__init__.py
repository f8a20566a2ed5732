"""The vector index: ids, modalities and JSON metadata over dense vectors; ANN or exact search; atomic saves.

A package of small parts with one job each (docs/architecture.md):

* ``types``: ``Hit`` and the ``Where`` filter type;
* ``catalog``: ids ↔ keys ↔ rows, modalities, metadata, and their SQLite form;
* ``exact``: the float32 copy, exact re-scoring and the one brute-force ``topk``;
* ``backend``: the ANN backend protocol and registry; ``usearch_backend``: HNSW shards (the default);
* ``planner``: modality / ``where`` filters and the over-fetch planner;
* ``storage``: manifest and checksums; ``folder``: locks, the atomic swap, recovery, clean-up;
* ``persist``: save and load (which parts go to which files, under which lock);
* ``validate``: refusing, by name, input a save could not write;
* ``vector_index``: the ``VectorIndex`` facade; ``create_index`` is the one place indexes are made.
"""

from __future__ import annotations

from typing import Any

from unret.errors import IndexCorruptError, IndexPathError, ManifestMismatchError, ReadOnlyIndexError
from unret.index.backend import AnnBackend, backend_class, register_backend
from unret.index.exact import row_norms, topk
from unret.index.storage import CATALOG, FORMAT_VERSION, MANIFEST, VECTORS
from unret.index.types import Hit, Where
from unret.index.usearch_backend import AUTO_DTYPE_ORDER, UsearchBackend, fastest_dtype
from unret.index.validate import DTYPES, METRICS
from unret.index.vector_index import VectorIndex


def create_index(dim: int, *, metric: str = "cos", model: dict | None = None, backend: str | type = "usearch",
                 **options: Any) -> VectorIndex:
    """Make an empty index for ``dim``-dimensional vectors: the one factory retrievers and evaluation use.

    ``options`` are ``VectorIndex`` settings (``dtype``, ``connectivity``, ``expansion_add``,
    ``expansion_search``, ``shard_size``); ``backend`` names a registered ANN backend.
    """
    return VectorIndex(dim, metric=metric, model=model, backend=backend, **options)


__all__ = [
    "AUTO_DTYPE_ORDER", "CATALOG", "DTYPES", "FORMAT_VERSION", "MANIFEST", "METRICS", "VECTORS", "AnnBackend",
    "Hit", "IndexCorruptError", "IndexPathError", "ManifestMismatchError", "ReadOnlyIndexError", "UsearchBackend",
    "VectorIndex", "Where", "backend_class", "create_index", "fastest_dtype", "register_backend", "row_norms",
    "topk",
]
