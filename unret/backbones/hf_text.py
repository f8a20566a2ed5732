"""Any Hugging Face text model as a retriever: decoder LLMs and BERT-like sentence encoders.

Decoder LLMs (Qwen2.5, Qwen2.5-Coder, Qwen2.5-Math, …) pool the last token's final state, as in
RepLLaMA (Ma et al., 2023) and the comparative study of specialised Qwen2.5 retrievers; BERT-like encoders
(all-MiniLM-L6-v2, all-mpnet-base-v2, …) mean-pool, as sentence-transformers does. The strategy comes from
the checkpoint (a sentence-transformers ``1_Pooling/config.json``, else the architecture) unless given.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer

from unret.backbones.base import Backbone
from unret.backbones.pooling import POOLING_STRATEGIES, Pooling, normalize, pool
from unret.backbones.registry import register
from unret.backbones.tokenize import PromptTokenizer, pad_batch
from unret.items import Item
from unret.prompts import PromptSet

DEFAULT_LLM_MAX_LENGTH = 8192


def is_decoder(config) -> bool:
    """Causal LMs pool the last token; bidirectional encoders pool the mean."""
    architectures = getattr(config, "architectures", None) or []
    return bool(getattr(config, "is_decoder", False)) or any(a.endswith("ForCausalLM") for a in architectures)


def sentence_transformers_settings(path: str | Path) -> dict[str, Any]:
    """Pooling mode and max length from a local sentence-transformers folder, if it is one."""
    path = Path(path)
    settings: dict[str, Any] = {}
    pooling_file = path / "1_Pooling" / "config.json"
    if pooling_file.exists():
        modes = json.loads(pooling_file.read_text())
        for mode, strategy in (("pooling_mode_mean_tokens", "mean"), ("pooling_mode_cls_token", "cls"),
                               ("pooling_mode_lasttoken", "last")):
            if modes.get(mode):
                settings["pooling"] = strategy
                break
    bert_config = path / "sentence_bert_config.json"
    if bert_config.exists():
        settings["max_length"] = json.loads(bert_config.read_text()).get("max_seq_length")
    return settings


@register("hf_text", default=True)
class HFTextBackbone(Backbone):
    """A Hugging Face ``AutoModel`` text retriever with a configurable pooling strategy."""

    modalities = frozenset({"text", "code"})

    def __init__(self, model, tokenizer, pooling: Pooling, prompts: str | PromptSet,
                 max_length: int | None = None, padding_side: str = "right"):
        super().__init__(prompts, max_length)
        if pooling not in POOLING_STRATEGIES:
            raise ValueError(f"unknown pooling {pooling!r}; choose one of {POOLING_STRATEGIES}")
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.padding_side = padding_side
        self.prompt_tokenizer = PromptTokenizer(tokenizer)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token

    @classmethod
    def from_pretrained(cls, name_or_path: str, pooling: Pooling | None = None,
                        prompts: str | PromptSet | None = None, max_length: int | None = None,
                        padding_side: str | None = None, dtype: torch.dtype | None = None,
                        revision: str | None = None, **model_kwargs: Any) -> HFTextBackbone:
        config = AutoConfig.from_pretrained(name_or_path, revision=revision)
        decoder = is_decoder(config)
        st = sentence_transformers_settings(name_or_path) if Path(name_or_path).is_dir() else {}
        pooling = pooling or st.get("pooling") or ("last" if decoder else "mean")
        prompts = prompts or ("oneword" if decoder else "plain")
        # Encoders (BERT, MPNet) have absolute position embeddings counted from the left edge: left padding
        # would shift every token's position, so they always pad right.
        if padding_side is None:
            padding_side = "left" if decoder else "right"
        elif padding_side != "right" and not decoder:
            raise ValueError(f"{name_or_path} is an encoder with absolute positions; it must pad on the right")
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, revision=revision)
        if max_length is None:
            max_length = st.get("max_length") or (DEFAULT_LLM_MAX_LENGTH if decoder else
                                                  min(tokenizer.model_max_length, 512))
        model = AutoModel.from_pretrained(name_or_path, revision=revision, dtype=dtype, **model_kwargs).eval()
        return cls(model, tokenizer, pooling, prompts, max_length=max_length, padding_side=padding_side)

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size

    def prepare(self, items: Sequence[Item], role: str = "document", task: str | None = None,
                instruction: str | None = None, positions: Sequence[int] | None = None) -> dict[str, Any]:
        self.check_modalities(items, positions)
        layouts = [self.prompt_tokenizer.layout(self.prompts.resolve(role, item.modality, task, instruction),
                                                has_image=False, has_text=True) for item in items]
        sequences = self.prompt_tokenizer.encode_many(layouts, [item.text for item in items], [0] * len(items),
                                                      self.max_length)
        input_ids, attention_mask = pad_batch(sequences, self.tokenizer.pad_token_id, self.padding_side)
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
        return normalize(pool(hidden, attention_mask, self.pooling))  # (batch_size, hidden_size)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "pooling": self.pooling, "padding_side": self.padding_side}

    def save(self, path: str | Path) -> None:
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
