"""The Milvus collection behind a ``MilvusStore``: its schema, its vector index, and the checks on reopening.

One row per item: ``id`` (VARCHAR primary key), ``vector`` (FLOAT_VECTOR), ``modality`` (VARCHAR scalar
field) and ``metadata`` (JSON). Metric COSINE, so the engine's score is the cosine unret reports. The
model the vectors were made with is kept as a collection property, so a store opened by URI alone knows
it. Consistency is ``Strong``: a search sees every write acknowledged before it.

pymilvus is imported here, inside functions, only when a Milvus store is used.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from unret.errors import IndexCorruptError, ModelMismatchError
from unret.store.milvus_spec import MilvusTarget, token

ID_MAX_BYTES = 65535  # Milvus's largest VARCHAR
MODALITY_MAX_BYTES = 1024
MODEL_PROPERTY = "unret.model"
FIELDS = ("id", "vector", "modality", "metadata")
# Index types by name; FLAT is exact (the milvus-lite default here), the others approximate.
INDEX_PARAMS: dict[str, dict[str, Any]] = {"FLAT": {}, "HNSW": {"M": 16, "efConstruction": 128},
                                           "IVF_FLAT": {"nlist": 1024}, "AUTOINDEX": {}}


def connect(target: MilvusTarget) -> Any:
    """A ``MilvusClient`` for ``target`` (milvus-lite starts in this process, in ~0.1 s)."""
    from pymilvus import MilvusClient

    # pymilvus logs every failed call with a traceback at ERROR; unret raises its own named errors instead.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    return MilvusClient(target.uri) if target.lite else MilvusClient(target.uri, token=token())


def create(client: Any, target: MilvusTarget, dim: int, model: dict | None, index: str) -> None:
    """Create the collection: the four fields, a COSINE index of type ``index``, the model as a property."""
    from pymilvus import DataType, MilvusClient

    if index not in INDEX_PARAMS:
        raise ValueError(f"unknown Milvus index type {index!r}: choose one of {sorted(INDEX_PARAMS)}")
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=ID_MAX_BYTES)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("modality", DataType.VARCHAR, max_length=MODALITY_MAX_BYTES)
    schema.add_field("metadata", DataType.JSON)
    params = client.prepare_index_params()
    params.add_index(field_name="vector", index_type=index, metric_type="COSINE", params=INDEX_PARAMS[index])
    client.create_collection(target.collection, schema=schema, index_params=params, consistency_level="Strong",
                             properties={MODEL_PROPERTY: json.dumps(model, sort_keys=True)})


def open_existing(client: Any, target: MilvusTarget, dim: int | None) -> tuple[int, dict | None, str]:
    """``(dim, model, index type)`` of an existing unret collection, loaded for search; named errors otherwise."""
    where = f"Milvus collection {target.collection!r} at {target.uri}"
    info = client.describe_collection(target.collection)
    fields = {f["name"]: f for f in info["fields"]}
    if set(FIELDS) - set(fields):
        raise IndexCorruptError(f"{where} is not an unret collection: it lacks the field(s) "
                                f"{sorted(set(FIELDS) - set(fields))}")
    have = int(fields["vector"]["params"]["dim"])
    if dim is not None and have != dim:
        raise ModelMismatchError(f"{where} holds {have}-dimensional vectors, not {dim}: it was built with "
                                 "another model")
    try:
        model = json.loads(info.get("properties", {}).get(MODEL_PROPERTY, "null"))
    except json.JSONDecodeError as e:
        raise IndexCorruptError(f"{where}: its {MODEL_PROPERTY!r} property is not JSON ({e})") from e
    index = client.describe_index(target.collection, "vector").get("index_type", "FLAT")
    client.load_collection(target.collection)
    return have, model, index
