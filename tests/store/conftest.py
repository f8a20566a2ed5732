"""Fixtures for the store suite: a fresh store of each kind (milvus-lite runs in-process, in tmp_path)."""

from __future__ import annotations

import pytest

KINDS = ["usearch", "milvus"]


def spec_for(kind: str, tmp_path, name: str = "c0") -> str | None:
    return None if kind == "usearch" else f"milvus+lite://{tmp_path}/milvus.db?collection={name}"


@pytest.fixture(params=KINDS)
def kind(request):
    if request.param == "milvus":
        pytest.importorskip("milvus_lite", reason="milvus-lite has no wheel for this platform")
    return request.param


@pytest.fixture
def new_store(kind, tmp_path):
    """``new_store(dim, model=None)``: an empty store of this kind; closed at the end of the test."""
    from unret.store.registry import open_store

    made = []

    def make(dim: int, model: dict | None = None, **options):
        store = open_store(spec_for(kind, tmp_path, f"c{len(made)}"), dim, model, **options)
        made.append(store)
        return store

    yield make
    for store in made:
        if hasattr(store, "close"):
            store.close()


def need(store, name: str) -> None:
    """Skip where this store lacks a protocol method: VectorIndex gains ``accepts``, ``modality_counts`` and
    ``close`` with the DocumentStore work (engineer A's branch); the Milvus store has them all."""
    if not hasattr(store, name):
        pytest.skip(f"{type(store).__name__}.{name} lands with the DocumentStore work")
