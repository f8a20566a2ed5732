"""Recipes: how a published embedder wants its inputs worded, pooled and padded, read from the checkpoint.

A decoder checkpoint embeds well only with the prompt it was trained with. unret picks that recipe from the
checkpoint's own files, in this order, unless ``recipe=`` (or explicit ``prompts=`` / ``pooling=``) says:

1. a sentence-transformers package (``modules.json`` …): its prompts, pooling and chat settings, read by
   :mod:`unret.backbones.st_package` (packages using modules unret does not run load as the
   ``sentence_transformers`` backbone kind instead, never as another recipe);
2. marker files a family ships (``gme_inference.py``, ``qwen3_vl_embedding.py``);
3. the model's name (or its config's ``_name_or_path``), as the last resort;
4. the study's zero-shot ``oneword`` prompt for the study's base chat models named by hub id
   (``Qwen/Qwen2.5-VL-3B-Instruct``, ``Qwen/Qwen2.5-Coder-7B-Instruct`` …): what they were measured with;
5. otherwise that same ``oneword`` prompt for decoders, with a :class:`RecipeWarning` that says
   so and how to choose, and plain mean pooling for BERT-like encoders.

The built-in recipes follow their authors' reference code; see docs/models.md for the table.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unret.prompts import CONTENT, Prompt, PromptSet, get_prompt_set

MODALITIES = ("text", "code", "image", "image+text")


class RecipeWarning(UserWarning):
    """A decoder loaded without a known recipe: unret says which prompt it uses and how to choose one."""


@dataclass(frozen=True)
class Recipe:
    """Prompts, pooling and padding side for one checkpoint family; ``how`` says how it was chosen."""

    name: str
    prompts: PromptSet
    pooling: str = "last"
    padding_side: str | None = None  # None: the backbone's default
    max_length: int | None = None
    how: str = "recipe="
    extra: Mapping[str, Any] = field(default_factory=dict)
    query_length: int | None = None  # per-role token caps (sentence-transformers' query_length / document_length)
    document_length: int | None = None


def _set(name: str, query: Callable[[str], Prompt], document: Callable[[str], Prompt], instruct: str) -> PromptSet:
    """A prompt set from per-role builders called with each modality."""
    prompts = {("query", m): query(m) for m in MODALITIES} | {("document", m): document(m) for m in MODALITIES}
    return PromptSet(name=name, prompts=prompts, instruct=instruct)


def _text_or_empty(modality: str, template: str = CONTENT) -> str:
    return "" if modality == "image" else template


QWEN3_VL_DEFAULT_INSTRUCTION = "Represent the user's input."
GME_DEFAULT_INSTRUCTION = "You are a helpful assistant."
DSE_IMAGE_PROMPT = "What is shown in this image?"
QWEN3_EMBEDDING_QUERY = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"


def qwen3_vl_embedding() -> Recipe:
    """QwenLM/Qwen3-VL-Embedding ``scripts/qwen3_vl_embedding.py``: the instruction is the system turn (default
    "Represent the user's input.", a period added when it ends without punctuation), images before text in the
    user turn, the generation prompt, last-token pooling over right-padded batches."""
    def prompt(modality: str) -> Prompt:
        return Prompt(_text_or_empty(modality), chat=True, system=QWEN3_VL_DEFAULT_INSTRUCTION)

    return Recipe("qwen3-vl-embedding", _set("qwen3-vl-embedding", prompt, prompt, "system."), "last", "right")


def gme_qwen2_vl() -> Recipe:
    """Alibaba-NLP/gme-Qwen2-VL ``gme_inference.py``: system turn = the query instruction (documents always the
    default "You are a helpful assistant."), image placeholder before the text, generation prompt followed by
    ``<|endoftext|>``, last token."""
    def prompt(modality: str) -> Prompt:
        return Prompt(_text_or_empty(modality), chat=True, system=GME_DEFAULT_INSTRUCTION,
                      assistant_prefix="<|endoftext|>")

    return Recipe("gme-qwen2-vl", _set("gme-qwen2-vl", prompt, prompt, "system"), "last", "right")


def dse_qwen2() -> Recipe:
    """MrLight/dse-qwen2-2b-mrl-v1 (Tevatron DSE): user turn ``Query: {q}`` for queries and the image with
    "What is shown in this image?" for page screenshots, generation prompt followed by ``<|endoftext|>``,
    last token under left padding. (DSE also feeds text queries a 1×1 dummy image; unret does not.)"""
    def query(modality: str) -> Prompt:
        template = DSE_IMAGE_PROMPT if modality == "image" else "Query: " + CONTENT
        return Prompt(template, chat=True, assistant_prefix="<|endoftext|>")

    def document(modality: str) -> Prompt:
        return Prompt(DSE_IMAGE_PROMPT if modality == "image" else CONTENT, chat=True,
                      assistant_prefix="<|endoftext|>")

    return Recipe("dse-qwen2", _set("dse-qwen2", query, document, "prefix"), "last", "left")


def qwen3_embedding() -> Recipe:
    """Qwen/Qwen3-Embedding (text): queries ``Instruct: {task}\\nQuery:{q}``, documents as they are, EOS
    appended, last token under left padding (the model card's transformers recipe)."""
    def query(modality: str) -> Prompt:
        return Prompt(QWEN3_EMBEDDING_QUERY + CONTENT, append_eos=True)

    def document(modality: str) -> Prompt:
        return Prompt(CONTENT, append_eos=True)

    return Recipe("qwen3-embedding", _set("qwen3-embedding", query, document,
                                          "Instruct: {instruction}\nQuery:" + CONTENT), "last", "left")


def _preset(name: str, pooling: str) -> Callable[[], Recipe]:
    return lambda: Recipe(name, get_prompt_set(name), pooling)


BUILTIN: dict[str, Callable[[], Recipe]] = {
    "qwen3-vl-embedding": qwen3_vl_embedding,
    "gme-qwen2-vl": gme_qwen2_vl,
    "dse-qwen2": dse_qwen2,
    "qwen3-embedding": qwen3_embedding,
    "oneword": _preset("oneword", "last"),  # the study's zero-shot prompt
    "supervised": _preset("supervised", "last"),  # RepLLaMA / Tevatron fine-tuning prompts
    "plain": _preset("plain", "mean"),
}
ST_RECIPE = "sentence-transformers"
RECIPE_NAMES = (*BUILTIN, ST_RECIPE)

# Files a family ships next to its weights, then name patterns (the last resort).
MARKER_FILES = {"gme_inference.py": "gme-qwen2-vl", "qwen3_vl_embedding.py": "qwen3-vl-embedding",
                "scripts/qwen3_vl_embedding.py": "qwen3-vl-embedding"}
NAME_PATTERNS = (
    (re.compile(r"qwen3-vl-embedding", re.I), "qwen3-vl-embedding"),
    (re.compile(r"\bgme-qwen2-vl", re.I), "gme-qwen2-vl"),
    (re.compile(r"\bdse-qwen2", re.I), "dse-qwen2"),
    (re.compile(r"qwen3-embedding", re.I), "qwen3-embedding"),
)

# The study's base chat models by their hub id (never by a config's ``_name_or_path``, which fine-tuned
# embedders keep from their base): ``oneword`` is their documented zero-shot recipe, so no warning.
BASE_MODEL = re.compile(r"^Qwen/Qwen2(\.5)?-(VL-|Coder-|Math-)?\d+(\.\d+)?B(-Instruct)?$")


def builtin(name: str) -> Recipe:
    if name not in BUILTIN:
        raise ValueError(f"unknown recipe {name!r}; choose one of {list(RECIPE_NAMES)}")
    return BUILTIN[name]()


def _marker(name_or_path: str) -> str | None:
    path = Path(name_or_path)
    if path.is_dir():
        for file, recipe in MARKER_FILES.items():
            if (path / file).is_file():
                return recipe
    return None


def _by_name(*names: str | None) -> str | None:
    for name in names:
        for pattern, recipe in NAME_PATTERNS:
            if name and pattern.search(str(name)):
                return recipe
    return None


def choose_recipe(name_or_path: str, config: Mapping[str, Any], decoder: bool, recipe: str | None = None,
                  revision: str | None = None, vision: bool = False, warn: bool = True) -> Recipe:
    """The recipe for a checkpoint: ``recipe`` if given, else what its files say (see the module docstring).

    ``warn=False`` is for callers that set prompts and pooling themselves (a saved unret config being
    restored): no warning, and a ``recipe`` name that no longer matches the files is only a label.
    """
    from unret.backbones import st_package

    if recipe is not None and recipe != ST_RECIPE:
        return builtin(recipe)
    package = st_package.read_package(name_or_path, revision)
    if package is not None and package.supported:
        return st_package.to_recipe(package, vision=vision)
    if recipe == ST_RECIPE and warn:
        reason = "it is not a sentence-transformers package" if package is None else "; ".join(package.unsupported)
        raise ValueError(f"recipe='{ST_RECIPE}' for {name_or_path}: {reason}")
    found = _marker(name_or_path)
    how = "marker file"
    if found is None:
        found, how = _by_name(name_or_path, config.get("_name_or_path")), "model name"
    if found is not None:
        chosen = builtin(found)
        return Recipe(chosen.name, chosen.prompts, chosen.pooling, chosen.padding_side, chosen.max_length, how)
    if decoder and BASE_MODEL.match(str(name_or_path)):
        return Recipe("oneword", get_prompt_set("oneword"), "last", how="the study's base model (zero-shot)")
    if not decoder:
        return Recipe("plain", get_prompt_set("plain"), "mean", how="encoder default")
    if warn:
        warnings.warn(
            f"{name_or_path} has no embedding recipe unret knows (no sentence-transformers files, no known "
            "family): using the study's zero-shot 'oneword' prompt with last-token pooling. If this model was "
            f"trained with another prompt, pass recipe= (one of {list(RECIPE_NAMES)}) or prompts=; "
            "see docs/models.md.", RecipeWarning, stacklevel=4)
    return Recipe("oneword", get_prompt_set("oneword"), "last", how="default (zero-shot)")

