"""Store kinds by name, and the ``--store`` / ``store=`` specification that picks one.

A specification is ``None`` or ``"usearch"`` (the embedded default: files inside the index folder) or a
URI whose scheme names a registered kind (``milvus://host:19530/collection``, a milvus-lite file). Each
kind registers a factory ``(spec, dim, model, **options) -> VectorStore`` (a new or connected store) and a
loader ``(path, view, expected_dim) -> VectorStore`` that reopens what the store's ``save(path)`` wrote
into an index folder (usearch: the vectors themselves; a remote engine: where its collection is).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from unret.store.protocol import VectorStore

DEFAULT_KIND = "usearch"

_FACTORIES: dict[str, Callable[..., VectorStore]] = {}
_LOADERS: dict[str, Callable[..., VectorStore]] = {}


def register_store(kind: str, factory: Callable[..., VectorStore], loader: Callable[..., VectorStore]) -> None:
    """Make ``kind`` available to ``open_store`` and ``load_store`` (a module registers its kind on import)."""
    _FACTORIES[kind] = factory
    _LOADERS[kind] = loader


def store_kinds() -> list[str]:
    return sorted(_FACTORIES)


def kind_of(spec: str | None) -> str:
    """The store kind a specification names: the URI scheme (``milvus://…`` → ``"milvus"``) or the bare name."""
    if spec is None:
        return DEFAULT_KIND
    kind = spec.split("://", 1)[0] if "://" in spec else spec
    return kind.split("+", 1)[0]


def open_store(spec: str | None, dim: int, model: dict | None = None, **options: Any) -> VectorStore:
    """A new (or, for a remote engine, connected) store for ``spec``; ValueError naming the known kinds."""
    _load_builtin_kinds()
    kind = kind_of(spec)
    if kind not in _FACTORIES:
        raise ValueError(f"unknown store {spec!r}: choose one of {store_kinds()} (e.g. 'usearch' or "
                         f"'milvus://host:19530/collection')")
    return _FACTORIES[kind](spec, dim, model, **options)


def load_store(kind: str, path: Any, view: bool = False, expected_dim: int | None = None) -> VectorStore:
    """Reopen the store of ``kind`` that ``save(path)`` wrote."""
    _load_builtin_kinds()
    if kind not in _LOADERS:
        raise ValueError(f"unknown store kind {kind!r}: choose one of {store_kinds()}")
    return _LOADERS[kind](path, view=view, expected_dim=expected_dim)


def _load_builtin_kinds() -> None:
    """Import the modules that register the built-in kinds (lazily: Milvus's client is imported only when used)."""
    if "milvus" not in _FACTORIES:
        import unret.store.milvus  # noqa: F401  (registers "milvus"; pymilvus itself is imported on first use)
    if DEFAULT_KIND not in _FACTORIES:
        from unret.index import VectorIndex, create_index

        register_store(DEFAULT_KIND, lambda spec, dim, model, **options: create_index(dim, model=model, **options),
                       lambda path, view=False, expected_dim=None: VectorIndex.load(path, view=view,
                                                                                  expected_dim=expected_dim))
