"""Reading a sentence-transformers package into unret's own prompt / pooling settings.

A package is ``modules.json`` (the module pipeline), ``config_sentence_transformers.json`` (``prompts``,
``default_prompt_name``), ``sentence_bert_config.json`` (``max_seq_length`` and, for sentence-transformers
≥ 6, the Transformer's ``modality_config`` / ``processing_kwargs``) and one folder per module
(``1_Pooling/config.json``…). Semantics follow sentence-transformers 6 (``base/modules/transformer.py``):
a model whose Transformer reads the ``message`` modality renders every input through its chat template
(the prompt becomes the system turn, images before text, no generation prompt unless
``processing_kwargs.chat_template.add_generation_prompt``); otherwise the prompt is a plain text prefix.
``encode_query`` uses the ``query`` prompt (else ``default_prompt_name``'s), ``encode_document`` the first of
``document`` / ``passage`` / ``corpus``. unret vectors are always unit vectors (packages without
``Normalize`` give the same directions).

``query_length`` / ``document_length`` (sentence-transformers ≥ 6.3) cap the tokens of ``encode_query`` /
``encode_document`` inputs in place of ``max_seq_length``.

What unret runs itself: Transformer + Pooling (mean / cls / lasttoken; ``include_prompt=False`` only where it
changes nothing) + Normalize, on every backbone kind. Anything else (Dense, Router, max / weighted pooling,
custom code, and *every* config key or value unret does not reproduce: ``do_lower_case``, model / processor
arguments, image processing arguments, ``truncate_dim``, keys a later sentence-transformers adds …) is listed
in :attr:`Package.unsupported`, and the package loads as the ``sentence_transformers`` backbone kind: a
setting is either implemented here or routed to sentence-transformers itself, never dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unret.prompts import CONTENT, Prompt, PromptSet

MODULES_FILE = "modules.json"
ST_CONFIG = "config_sentence_transformers.json"
BERT_CONFIG = "sentence_bert_config.json"
KNOWN_MODULES = ("Transformer", "Pooling", "Normalize")
# Every key each file may hold that unret interprets (a value it cannot reproduce is still routed, below);
# any other key routes the package to the sentence_transformers kind.
TRANSFORMER_KEYS = frozenset({
    "transformer_task", "modality_config", "module_output_name", "processing_kwargs", "unpad_inputs",
    "query_length", "document_length", "query_expansion", "max_seq_length", "do_lower_case", "backend",
    "model_kwargs", "processor_kwargs", "config_kwargs", "model_args", "tokenizer_args", "config_args",
    "cache_dir", "tokenizer_name_or_path",
})
POOLING_KEYS = frozenset({"embedding_dimension", "word_embedding_dimension", "pooling_mode", "include_prompt",
                          "pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_tokens",
                          "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                          "pooling_mode_lasttoken"})
NORMALIZE_KEYS = frozenset({"module_input_name", "module_output_name"})
# ``similarity_fn_name`` is read but changes no vector: unret ranks unit vectors by cosine (docs/models.md).
MODEL_KEYS = frozenset({"prompts", "default_prompt_name", "similarity_fn_name", "model_type", "__version__",
                        "truncate_dim"})
# Arguments given to the model / processor / config loaders: any of them may change the vectors.
_LOADER_ARGS = ("model_kwargs", "processor_kwargs", "config_kwargs", "model_args", "tokenizer_args",
                "config_args", "cache_dir", "tokenizer_name_or_path")
_PROCESSING = {"text": {"padding_side"}, "common": {"padding_side"},
               "chat_template": {"add_generation_prompt", "restore_suffix"}}
POOLING_MODES = {"mean": "mean", "cls": "cls", "lasttoken": "last"}
_LEGACY_MODES = (("pooling_mode_mean_tokens", "mean"), ("pooling_mode_cls_token", "cls"),
                 ("pooling_mode_lasttoken", "lasttoken"), ("pooling_mode_max_tokens", "max"),
                 ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens"),
                 ("pooling_mode_weightedmean_tokens", "weightedmean"))


def read_json(name_or_path: str, filename: str, revision: str | None = None) -> Any | None:
    """A JSON file of a local folder or a hub repository (from the local cache when offline); None if absent."""
    path = Path(name_or_path)
    if path.is_dir():
        file = path / filename
        return json.loads(file.read_text()) if file.is_file() else None
    if path.exists() or name_or_path.count("/") > 1 or ":" in name_or_path:
        return None  # a file, or not a hub repository id
    try:
        from huggingface_hub import hf_hub_download

        return json.loads(Path(hf_hub_download(name_or_path, filename, revision=revision)).read_text())
    except Exception:  # absent file, unknown repository, offline without a cached copy: not a package
        return None


@dataclass
class Package:
    """What a sentence-transformers package declares, in unret's terms."""

    modules: list[dict[str, Any]]
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str | None = None
    pooling: str | None = None
    include_prompt: bool = True
    normalize: bool = False
    max_length: int | None = None
    query_length: int | None = None
    document_length: int | None = None
    chat: bool = False
    generation_prompt: bool = False
    padding_side: str | None = None
    unsupported: list[str] = field(default_factory=list)

    @property
    def supported(self) -> bool:
        return not self.unsupported

    def prompt_for(self, role: str) -> str:
        """The prompt sentence-transformers' ``encode_query`` / ``encode_document`` would use by default."""
        names = ["query"] if role == "query" else ["document", "passage", "corpus"]
        for name in names:
            if name in self.prompts:
                return self.prompts[name] or ""
        if self.default_prompt_name:
            return self.prompts.get(self.default_prompt_name) or ""
        return ""


def _module_kind(entry: Mapping[str, Any]) -> str:
    return str(entry.get("type", "")).rsplit(".", 1)[-1]


def _pooling_mode(config: Mapping[str, Any]) -> str:
    if "pooling_mode" in config:
        mode = config["pooling_mode"]
        return mode if isinstance(mode, str) else "+".join(mode)
    modes = [name for key, name in _LEGACY_MODES if config.get(key)]
    return "+".join(modes) or "mean"


def _unknown_keys(package: Package, file: str, config: Mapping[str, Any], known: frozenset[str]) -> None:
    unknown = sorted(set(config) - known)
    if unknown:
        package.unsupported.append(f"{file} keys {unknown}")


def read_package(name_or_path: str, revision: str | None = None) -> Package | None:
    """The package at ``name_or_path``, or None when it has no ``modules.json``."""
    modules = read_json(name_or_path, MODULES_FILE, revision)
    if not isinstance(modules, list):
        return None
    st_config = read_json(name_or_path, ST_CONFIG, revision) or {}
    package = Package(modules=modules, prompts=dict(st_config.get("prompts") or {}),
                      default_prompt_name=st_config.get("default_prompt_name"))
    _unknown_keys(package, ST_CONFIG, st_config, MODEL_KEYS)
    if st_config.get("truncate_dim") is not None:
        package.unsupported.append(f"truncate_dim {st_config['truncate_dim']}")
    if st_config.get("model_type", "SentenceTransformer") != "SentenceTransformer":
        package.unsupported.append(f"model_type {st_config['model_type']!r}")
    kinds = [_module_kind(m) for m in modules]
    for kind in kinds:
        if kind not in KNOWN_MODULES:
            package.unsupported.append(f"module {kind}")
    if kinds[:1] != ["Transformer"] or kinds.count("Transformer") != 1 or kinds.count("Pooling") > 1:
        package.unsupported.append(f"module pipeline {kinds}")
    package.normalize = "Normalize" in kinds
    for entry in modules:
        kind, folder = _module_kind(entry), str(entry.get("path", ""))
        if kind == "Transformer":
            _read_transformer(package, name_or_path, folder, revision)
        elif kind == "Pooling":
            config = read_json(name_or_path, f"{folder}/config.json" if folder else "config.json", revision) or {}
            _unknown_keys(package, "Pooling config", config, POOLING_KEYS)
            mode = _pooling_mode(config)
            package.include_prompt = bool(config.get("include_prompt", True))
            if mode not in POOLING_MODES:
                package.unsupported.append(f"pooling mode {mode!r}")
            package.pooling = POOLING_MODES.get(mode)
        elif kind == "Normalize" and folder:
            config = read_json(name_or_path, f"{folder}/config.json", revision) or {}
            _unknown_keys(package, "Normalize config", config, NORMALIZE_KEYS)
            names = {config.get(key, "sentence_embedding") for key in NORMALIZE_KEYS}
            if names != {"sentence_embedding"}:
                package.unsupported.append(f"Normalize of {sorted(names)}")
    if "Pooling" not in kinds:
        package.unsupported.append("no Pooling module")
    if not package.include_prompt and package.pooling == "mean" and any(package.prompts.values()):
        package.unsupported.append("include_prompt=False with mean pooling")
    return package


def _read_transformer(package: Package, name_or_path: str, folder: str, revision: str | None) -> None:
    config = read_json(name_or_path, f"{folder}/{BERT_CONFIG}" if folder else BERT_CONFIG, revision) or {}
    if folder:
        package.unsupported.append(f"Transformer weights in a sub-folder ({folder})")
    _unknown_keys(package, BERT_CONFIG, config, TRANSFORMER_KEYS)
    package.max_length = config.get("max_seq_length")
    package.query_length = config.get("query_length")
    package.document_length = config.get("document_length")
    for key in _LOADER_ARGS:
        if config.get(key):
            package.unsupported.append(f"{key} {config[key]!r}")
    for key, default in (("do_lower_case", False), ("query_expansion", None), ("backend", "torch"),
                         ("module_output_name", "token_embeddings")):
        if config.get(key, default) not in (default, None):
            package.unsupported.append(f"{key} {config[key]!r}")
    modalities = config.get("modality_config") or {}
    for modality, entry in modalities.items():
        entry = entry if isinstance(entry, Mapping) else {}
        if (entry.get("method"), entry.get("method_output_name")) != ("forward", "last_hidden_state"):
            package.unsupported.append(f"modality_config {modality!r}: {entry!r}")
    package.chat = "message" in modalities
    processing = config.get("processing_kwargs") or {}
    for group, settings in processing.items():
        extra = sorted(set(settings or {}) - _PROCESSING.get(group, set()))
        if extra:
            package.unsupported.append(f"processing_kwargs {group} {extra}")
    chat_kwargs = processing.get("chat_template") or {}
    package.generation_prompt = bool(chat_kwargs.get("add_generation_prompt", False))
    if chat_kwargs.get("restore_suffix", True) is not True:
        package.unsupported.append("chat template restore_suffix=False")  # unret never cuts the template
    text_kwargs = processing.get("text") or {}
    common = processing.get("common") or {}
    tokenizer_config = read_json(name_or_path, "tokenizer_config.json", revision) or {}
    package.padding_side = (text_kwargs.get("padding_side") or common.get("padding_side")
                            or tokenizer_config.get("padding_side"))
    task = config.get("transformer_task", "feature-extraction")
    if task != "feature-extraction":
        package.unsupported.append(f"transformer_task {task!r}")


def prompt_set(package: Package) -> PromptSet:
    """unret prompts that render inputs exactly as sentence-transformers does for this package."""
    prompts: dict[tuple[str, str], Prompt] = {}
    for role in ("query", "document"):
        text = package.prompt_for(role)
        for modality in ("text", "code", "image", "image+text"):
            template = "" if modality == "image" else CONTENT
            if package.chat:
                prompts[(role, modality)] = Prompt(template, chat=True, system=text or None,
                                                   generation_prompt=package.generation_prompt)
            else:
                prompts[(role, modality)] = Prompt(text + template)
    # ``prompt=`` in sentence-transformers replaces the prompt: the system turn, or the text prefix.
    instruct = "system" if package.chat else "{instruction}" + CONTENT
    return PromptSet(name="sentence-transformers", prompts=prompts, instruct=instruct)


def to_recipe(package: Package, vision: bool = False):
    """The :class:`~unret.backbones.recipes.Recipe` equivalent of a supported package."""
    from unret.backbones.recipes import ST_RECIPE, Recipe

    return Recipe(ST_RECIPE, prompt_set(package), package.pooling or "mean", package.padding_side,
                  package.max_length, how="sentence-transformers package",
                  query_length=package.query_length, document_length=package.document_length)
