"""Writing a saved unret model as a sentence-transformers package, so ``SentenceTransformer(folder)`` loads it.

The files are the ones sentence-transformers 6 writes itself (``modules.json``, ``sentence_bert_config.json``,
``config_sentence_transformers.json``, ``1_Pooling``, ``2_Normalize``), next to the weights and processor
``save_pretrained`` already wrote. A recipe is exported only when sentence-transformers renders it exactly:
chat prompts whose only wording is the system turn (``Qwen3-VL-Embedding``, packages read from
sentence-transformers), or plain-text prefixes (``plain``, E5-style ``query: ``). Prompts with wording around
the content (the study's ``oneword``), an appended EOS or an assistant prefix (``supervised``, GME, DSE) have no
sentence-transformers equivalent: nothing is written and :func:`export_package` says why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from unret.atomic import atomic_write_text
from unret.prompts import CONTENT, Prompt

POOLING_NAMES = {"last": "lasttoken", "mean": "mean", "cls": "cls"}
_FORWARD = {"method": "forward", "method_output_name": "last_hidden_state"}


def _st_prompt(prompt: Prompt, chat: bool, image: bool) -> str | None:
    """The sentence-transformers prompt rendering ``prompt`` exactly, or None when there is none."""
    if prompt.append_eos or prompt.assistant_prefix or prompt.chat != chat:
        return None
    if chat:
        return (prompt.system or "") if prompt.template == ("" if image else CONTENT) else None
    if image or not prompt.template.endswith(CONTENT) or prompt.system is not None:
        return None
    return prompt.template[: -len(CONTENT)]


def package_files(backbone: Any) -> tuple[dict[str, Any] | None, str]:
    """(``{relative path: JSON}`` to write, "") for an exportable backbone, else (None, the reason)."""
    kind = getattr(backbone, "kind", "")
    if kind not in ("hf_text", "qwen_vl"):
        return None, f"the {kind!r} backbone has no sentence-transformers form"
    pooling = getattr(backbone, "pooling", "last")
    vision = kind == "qwen_vl"
    modalities = ["text", "code"] + (["image", "image+text"] if vision else [])
    first = backbone.prompts.prompts[("query", "text")]
    chat = first.chat
    prompts: dict[str, str] = {}
    generation = {p.generation_prompt for p in backbone.prompts.prompts.values() if p.chat}
    if len(generation) > 1:
        return None, "the prompts mix chat turns with and without the generation prompt"
    for role in ("query", "document"):
        rendered = {_st_prompt(backbone.prompts.prompts[(role, m)], chat, m == "image") for m in modalities}
        if None in rendered or len(rendered) != 1:
            return None, (f"prompt set {backbone.prompts.name!r} words its {role} inputs in a way "
                          "sentence-transformers cannot render (only a system turn or a text prefix can be)")
        prompts[role] = rendered.pop()
    modality_config: dict[str, Any] = {"text": dict(_FORWARD)}
    if vision:
        modality_config["image"] = dict(_FORWARD)
    if chat:
        modality_config["message"] = {**_FORWARD, "format": "structured" if vision else "flat"}
    processing: dict[str, Any] = {"text": {"padding_side": backbone.padding_side}}
    if chat and generation == {True}:
        processing["chat_template"] = {"add_generation_prompt": True}
    bert_config = {"transformer_task": "feature-extraction", "modality_config": modality_config,
                   "module_output_name": "token_embeddings", "processing_kwargs": processing,
                   "max_seq_length": backbone.max_length}
    for key in ("query_length", "document_length"):  # sentence-transformers >= 6.3's per-task caps
        if getattr(backbone, key, None) is not None:
            bert_config[key] = getattr(backbone, key)
    files = {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling",
             "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize",
             "type": "sentence_transformers.base.modules.normalize.Normalize"},
        ],
        "sentence_bert_config.json": bert_config,
        "config_sentence_transformers.json": {"prompts": prompts, "default_prompt_name": None,
                                              "model_type": "SentenceTransformer", "similarity_fn_name": "cosine"},
        "1_Pooling/config.json": {"embedding_dimension": backbone.dim, "pooling_mode": POOLING_NAMES[pooling],
                                  "include_prompt": True},
        "2_Normalize/config.json": {"module_input_name": "sentence_embedding",
                                    "module_output_name": "sentence_embedding"},
    }
    return files, ""


def export_package(backbone: Any, path: str | Path) -> str:
    """Write the sentence-transformers files into ``path``; returns "" when written, else why not."""
    files, reason = package_files(backbone)
    if files is None:
        (Path(path) / "modules.json").unlink(missing_ok=True)  # a stale package would load other vectors
        return reason
    for name, content in files.items():
        target = Path(path) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, json.dumps(content, indent=2))
    return ""
