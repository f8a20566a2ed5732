"""UnifiedRetriever: the face users type — load a model, encode, index, search, save and load.

It composes lower layers and re-implements none: ``items`` normalises inputs, a ``Backbone`` embeds
them, ``encoding`` batches them, a ``DocumentStore`` (vectors + texts + folder) holds them and a
``Retriever`` strategy ranks them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from unret.atomic import atomic_write_text
from unret.backbones import Backbone, load_backbone
from unret.backbones.identity import probe_mismatch, probe_vector
from unret.encoding import as_output, encode_items
from unret.errors import InputError, ManifestMismatchError, NoIndexError, ReadOnlyIndexError
from unret.index import Hit, VectorIndex, Where
from unret.items import MODALITIES, Item, to_items
from unret.search import LexicalIndex, Retriever, SearchContext, build
from unret.store import DocumentStore
from unret.store.layout import (  # re-exported: older code imports the layout from here
    CONFIG_NAME,
    FORMAT_VERSION,
    INDEX_DIR,
    LEXICAL_DIR,
    MODEL_DIR,
    read_config,
    read_settings,
)

__all__ = ["CONFIG_NAME", "FORMAT_VERSION", "INDEX_DIR", "LEXICAL_DIR", "MODEL_DIR", "UnifiedRetriever",
           "read_config", "read_settings"]


class UnifiedRetriever:
    """One embedding space for text, code and images.

    >>> r = UnifiedRetriever.from_pretrained("Qwen/Qwen2.5-VL-3B-Instruct", device="cuda", dtype="bfloat16")
    >>> q = r.encode_queries(["function that plots a bar chart"], task="nl2code")
    >>> d = r.encode_documents([Code("def bar(x): ..."), Image.open("chart.png")])
    >>> scores = q @ d.T
    """

    def __init__(self, backbone: Backbone, model_ref: dict[str, Any] | None = None,
                 truncate_dim: int | None = None, index: VectorIndex | None = None,
                 lexical: LexicalIndex | None = None, store: str | DocumentStore | None = None):
        """``store``: a `DocumentStore`, or the specification of the store a first ``add`` creates (None or
        ``"usearch"``: embedded, in the index folder; ``"milvus://host:19530/collection"``…)."""
        self.backbone = backbone
        self.model_ref = model_ref or {}
        self.truncate_dim = truncate_dim
        self.store_spec = store if isinstance(store, str) else None
        self.store: DocumentStore | None = store if isinstance(store, DocumentStore) else None
        if index is not None:
            self.store = DocumentStore(index, lexical)

    @property
    def index(self) -> VectorIndex | None:
        """The vector side of the store (kept for older code; production code goes through ``store``)."""
        return None if self.store is None else self.store.vectors

    @index.setter
    def index(self, index: VectorIndex | None) -> None:
        self.store = None if index is None else DocumentStore(index)

    @property
    def lexical(self) -> LexicalIndex | None:
        """The BM25 side of the store, None until built (an index saved without one builds it when needed)."""
        return None if self.store is None else self.store.lexical_if_built

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, device: str | torch.device | None = None,
                        dtype: str | torch.dtype | None = None, truncate_dim: int | None = None,
                        store: str | None = None, **backbone_kwargs: Any) -> UnifiedRetriever:
        """Load a hub model or local folder (a transformers checkpoint or a ``save_pretrained`` folder).

        ``backbone_kwargs`` go to the backbone: ``prompts`` (a preset name such as ``"oneword"`` or
        ``"supervised"``), ``pooling``, ``max_length``, ``min_pixels`` / ``max_pixels``, ``padding_side``,
        ``revision``, ``kind`` and any ``AutoModel.from_pretrained`` argument (``attn_implementation``…).
        ``store`` picks the vector store of a new index (see ``__init__``).
        """
        path = Path(name_or_path).expanduser()
        if (path / CONFIG_NAME).is_file():
            saved = read_settings(path / CONFIG_NAME)
            retriever = cls._from_config(path, saved, device, dtype, truncate_dim, **backbone_kwargs)
            retriever.store_spec = store
            return retriever
        backbone = load_backbone(str(name_or_path), dtype=dtype, device=device, **backbone_kwargs)
        source = str(path.resolve()) if path.is_dir() else str(name_or_path)
        ref = {"name_or_path": source, "revision": backbone_kwargs.get("revision")}
        return cls(backbone, ref, truncate_dim, store=store)

    @classmethod
    def _from_config(cls, source: str | Path, config: dict[str, Any], device: str | torch.device | None,
                     dtype: str | torch.dtype | None, truncate_dim: int | None = None,
                     **overrides: Any) -> UnifiedRetriever:
        """Rebuild a retriever from a saved unret config, reading the weights from ``source``."""
        settings = dict(config["backbone"])
        kind = settings.pop("kind")
        backbone = load_backbone(str(source), kind=kind, dtype=dtype, device=device, **{**settings, **overrides})
        truncate_dim = truncate_dim if truncate_dim is not None else config.get("truncate_dim")
        return cls(backbone, config.get("model"), truncate_dim)

    def save_pretrained(self, path: str | Path) -> str:
        """Write weights, processor and unret settings so ``from_pretrained(path)`` restores this retriever.

        The sentence-transformers files are written too where its recipe has a sentence-transformers form, so
        ``SentenceTransformer(path)`` returns the same vectors. Returns "" then, else why they were not.
        """
        from unret.backbones.st_export import export_package

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.backbone.save(path)
        if self.truncate_dim is not None:
            (path / "modules.json").unlink(missing_ok=True)
            not_exported = "truncate_dim is set (pass truncate_dim= to SentenceTransformer yourself)"
        else:
            not_exported = export_package(self.backbone, path)
        atomic_write_text(path / CONFIG_NAME, json.dumps(self._config(), indent=2))
        return not_exported

    def _config(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "model": self.model_ref,
            "backbone": self.backbone.config(),
            "truncate_dim": self.truncate_dim,
        }

    @property
    def dim(self) -> int:
        """Dimension of the vectors this retriever returns."""
        return self.truncate_dim or self.backbone.dim

    @property
    def modalities(self) -> frozenset[str]:
        return self.backbone.modalities

    def encode(self, inputs: Any | Iterable[Any], role: Literal["query", "document"] = "document",
               batch_size: int = 8, task: str | None = None, instruction: str | None = None,
               truncate_dim: int | None = None, show_progress: bool | None = None,
               convert_to: Literal["torch", "numpy"] = "torch",
               sort_by_length: bool = True) -> torch.Tensor | np.ndarray:
        """Embed one input or a list of inputs of any supported modalities, mixed freely.

        Returns (N, dim) for a list, (dim,) for a single input, L2-normalised, on CPU unless the backbone
        is on another device. See ``unret.items`` for what counts as text, code, an image or a file.
        """
        items, single = to_items(inputs)
        vectors = encode_items(
            self.backbone, items, role=role, batch_size=batch_size, task=task, instruction=instruction,
            truncate_dim=truncate_dim if truncate_dim is not None else self.truncate_dim,
            sort_by_length=sort_by_length, show_progress=show_progress, convert_to=convert_to,
        )
        return as_output(vectors, single)

    def encode_queries(self, inputs: Any | Iterable[Any], **kwargs: Any) -> torch.Tensor | np.ndarray:
        """Embed queries (query prompts; ``task=`` / ``instruction=`` apply)."""
        return self.encode(inputs, role="query", **kwargs)

    def encode_documents(self, inputs: Any | Iterable[Any], **kwargs: Any) -> torch.Tensor | np.ndarray:
        """Embed documents (document prompts; task-agnostic, so one index serves every task)."""
        return self.encode(inputs, role="document", **kwargs)

    # ------------------------------------------------------------------ index

    def fingerprint(self) -> list[float]:
        """This model's vector for a fixed probe text: equal fingerprints mean interchangeable vectors."""
        return probe_vector(self.backbone, self.truncate_dim)

    def _store(self, create: bool = False) -> DocumentStore:
        if self.store is None:
            if not create:
                raise NoIndexError("this retriever has no index yet: add() documents or load() a saved one")
            model = {**self.model_ref, "backbone": self.backbone.config().get("kind"), "dim": self.dim,
                     "fingerprint": self.fingerprint()}
            self.store = DocumentStore.create(self.dim, model, self.store_spec)
        return self.store

    def add(self, inputs: Any | Iterable[Any], ids: Sequence[str] | None = None,
            metadata: Sequence[Mapping[str, Any] | None] | None = None, batch_size: int = 8,
            show_progress: bool | None = None) -> list[str]:
        """Embed and index documents of any modality; re-adding an id replaces it. Returns the ids.

        ``ids`` default to the file path for inputs given as files and a random id otherwise. Each hit's
        metadata is ``metadata[i]`` plus ``source`` / ``language`` when known. Nothing is indexed unless
        every input embeds (a bad input raises, naming its position, and the index is unchanged).
        """
        items, single = to_items(inputs)
        if ids is not None:
            ids = [ids] if single and isinstance(ids, str) else list(ids)
            if len(ids) != len(items):
                raise ValueError(f"got {len(items)} inputs but {len(ids)} ids")
        else:
            ids = [item.source or uuid.uuid4().hex for item in items]
        if metadata is not None:
            metadata = [metadata] if single and isinstance(metadata, Mapping) else list(metadata)
            if len(metadata) != len(items):
                raise ValueError(f"got {len(items)} inputs but {len(metadata)} metadata entries")
        if self._store(create=True).read_only:  # refuse before spending time on encoding
            raise ReadOnlyIndexError("this index was loaded with view=True (read-only); load it with view=False to add")
        vectors = self.encode_documents(items, batch_size=batch_size, show_progress=show_progress,
                                        convert_to="numpy")
        self.add_encoded(ids, vectors, items,
                         [_item_metadata(item, metadata[i] if metadata else None) for i, item in enumerate(items)])
        return ids

    def add_encoded(self, ids: Sequence[str], vectors: np.ndarray, items: Sequence[Item],
                    metadata: Sequence[Mapping[str, Any]]) -> None:
        """Index items already embedded by this model (``encode_documents``), with their metadata as given:
        for callers that encode and commit separately (``unret.files`` commits groups of files)."""
        self._store(create=True).add(ids, vectors, [item.modality for item in items], metadata,
                                     [item.text or "" for item in items])

    def search(self, queries: Any | Iterable[Any], k: int = 10, modality: str | Sequence[str] | None = None,
               where: Where | None = None, exact: bool = False, task: str | None = None,
               instruction: str | None = None, batch_size: int = 8, mode: str = "dense",
               fusion: str = "rrf", alpha: float = 0.5, rerank: Any = None,
               rerank_depth: int = 100) -> list[Hit] | list[list[Hit]]:
        """Top-``k`` hits (id, score, modality, metadata) for a query, or one list per query in a list.

        Queries may be text, code or images too (image → image search); ``modality`` and ``where``
        filter hits; ``exact=True`` searches by brute force instead of HNSW. ``mode`` names a registered
        search mode (`unret.search.registry`): ``"dense"``, ``"lexical"`` (BM25 over the documents' text) or
        ``"hybrid"`` (dense and BM25 fused: ``fusion="rrf"``, or ``"convex"`` with weight ``alpha`` on
        dense). ``rerank`` (a `unret.rerank.Reranker` or a path `load_reranker` reads; required by
        ``mode="<mode>+rerank"``) re-scores the first stage's top ``rerank_depth`` (see `unret.search.rerank`).
        """
        _check_modality(modality)
        retriever = self.retriever(mode, exact=exact, task=task, instruction=instruction, batch_size=batch_size,
                                   fusion=fusion, alpha=alpha, rerank=rerank, rerank_depth=rerank_depth)
        items, single = to_items(queries)
        hits = retriever.search(items, k=k, modality=modality, where=where)
        return hits[0] if single else hits

    def retriever(self, mode: str = "dense", exact: bool = False, fusion: str = "rrf", alpha: float = 0.5,
                  rerank: Any = None, rerank_depth: int = 100, **encode_kwargs: Any) -> Retriever:
        """The `Retriever` of ``mode`` over this index (what `search` uses; the server keeps one per mode)."""
        return build(mode, self.search_context(exact=exact, **encode_kwargs), rerank=rerank,
                     rerank_depth=rerank_depth, fusion=fusion, alpha=alpha)

    def search_context(self, exact: bool = False, **encode_kwargs: Any) -> SearchContext:
        """What search strategies read from this retriever: the model and the document store (vectors,
        filters, the lexical side and each document's indexed text)."""
        store = self._store()
        return SearchContext(encoder=self, vectors=store, lexical_source=lambda: store.lexical,
                             catalog_get=store.get, text_of=store.text, accepts=store.accepts, exact=exact,
                             encode_kwargs=encode_kwargs)

    def remove(self, ids: str | Iterable[str]) -> int:
        """Remove documents by id (vectors and text); an unknown id raises KeyError and removes nothing."""
        return self._store().remove(ids)

    def __len__(self) -> int:
        return 0 if self.store is None else len(self.store)

    def save(self, path: str | Path, include_model: bool = False) -> None:
        """Save the index and a reference to the model, all or nothing; ``load(path)`` serves it again.

        Vectors, texts and config are committed in one swap of the folder (docs/indexing.md § Durability):
        a failure raises and leaves the disk as it was. Holds the folder's writer lock while saving
        (`IndexLockedError` if another process is writing it). With ``include_model=True`` the weights are
        written into ``path/model`` so the folder is self-contained (for fine-tuned or local models).
        """
        config = self._config()
        write_model = None
        if include_model:
            kept = self.model_ref.get("relative") and (Path(path) / MODEL_DIR).is_dir()  # hard-linked over

            def write_model(tmp: Path) -> None:
                if not kept:
                    self.save_pretrained(tmp / MODEL_DIR)

            config["model"] = {**config["model"], "name_or_path": MODEL_DIR, "relative": True}
        self._store(create=True).save(path, config, write_model)

    @classmethod
    def load(cls, path: str | Path, model: str | Path | None = None, view: bool = False,
             device: str | torch.device | None = None, dtype: str | torch.dtype | None = None,
             **backbone_kwargs: Any) -> UnifiedRetriever:
        """Load a saved index with the model it was built with (or ``model``, if it embeds identically).

        ``view=True`` memory-maps the index for read-only serving. A model whose vectors differ from the
        index's (another model, other weights or settings) is refused with ``ManifestMismatchError``.
        """
        from unret.store.commit import recover

        path = recover(path)  # a crash between a save's renames left the folder aside: put it back first
        config_file = path / CONFIG_NAME
        if not config_file.is_file():
            raise FileNotFoundError(f"{path} is not a saved unret index (no {CONFIG_NAME})")
        config = read_config(config_file)
        ref = config["model"]
        if model is None:
            source = path / ref["name_or_path"] if ref.get("relative") else ref["name_or_path"]
            retriever = cls._from_config(source, config, device, dtype,
                                         **{"revision": ref.get("revision"), **backbone_kwargs})
        else:
            retriever = cls.from_pretrained(model, device=device, dtype=dtype, **backbone_kwargs)
        retriever.reload_index(path, view=view)
        return retriever

    def reload_index(self, path: str | Path, view: bool = False) -> None:
        """Replace the index in memory by the one saved at ``path`` (``load`` without reloading the model).

        Also how a writer goes back to the last durable state after a failed save. The index must come from
        this model: another model's is refused with ``ManifestMismatchError`` and nothing is replaced.
        """
        path = Path(path)
        store = DocumentStore.load(path, view=view, expected_dim=self.dim)
        index = store.vectors
        expected = index.model.get("fingerprint") if index.model else None
        if expected is not None:
            drift = probe_mismatch(self.fingerprint(), expected)
            if drift is not None:
                raise ManifestMismatchError(
                    f"the index at {path} was built with model {index.model.get('name_or_path')!r}, and "
                    f"{self.model_ref.get('name_or_path')!r} embeds differently (probe vectors differ "
                    f"by up to {drift:.3g}); re-index with this model or load the original one"
                )
        self.store = store


def _check_modality(modality: str | Sequence[str] | None) -> None:
    """An unknown modality (a typo such as ``"imgae"``) raises instead of silently matching nothing."""
    wanted = [modality] if isinstance(modality, str) else list(modality or [])
    unknown = [m for m in wanted if m not in MODALITIES]
    if unknown:
        raise InputError(f"unknown modality {unknown[0]!r}; choose from {list(MODALITIES)}")


def _item_metadata(item: Item, user: Mapping[str, Any] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if item.source:
        meta["source"] = item.source
    if item.language:
        meta["language"] = item.language
    meta.update(user or {})
    return meta
