"""Any Hugging Face text model as a retriever: decoder LLMs and BERT-like sentence encoders.

Decoder LLMs (Qwen2.5, Qwen2.5-Coder, Qwen2.5-Math, …) pool the last token's final state, as in
RepLLaMA (Ma et al., 2023) and the comparative study of specialised Qwen2.5 retrievers; BERT-like encoders
(all-MiniLM-L6-v2, all-mpnet-base-v2, …) mean-pool, as sentence-transformers does. The strategy comes from
the checkpoint's recipe (a sentence-transformers package, a known family, else the architecture) unless
given; see :mod:`unret.backbones.recipes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer

from unret.backbones.base import Backbone
from unret.backbones.peft_adapter import load_model
from unret.backbones.pooling import POOLING_STRATEGIES, Pooling, normalize, pool
from unret.backbones.recipes import choose_recipe
from unret.backbones.registry import register
from unret.backbones.tokenize import PromptTokenizer, pad_batch
from unret.items import Item
from unret.prompts import PromptSet

DEFAULT_LLM_MAX_LENGTH = 8192


def is_decoder(config) -> bool:
    """Causal LMs pool the last token; bidirectional encoders pool the mean.

    A checkpoint saved as the bare model (``Qwen2Model``, as sentence-transformers saves it) no longer says
    ``…ForCausalLM``: its ``model_type`` then decides (causal-LM families that have no masked-LM head).
    """
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    architectures = getattr(config, "architectures", None) or []
    if bool(getattr(config, "is_decoder", False)) or any(a.endswith("ForCausalLM") for a in architectures):
        return True
    model_type = getattr(config, "model_type", None)
    return model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


@register("hf_text", default=True)
class HFTextBackbone(Backbone):
    """A Hugging Face ``AutoModel`` text retriever with a configurable pooling strategy."""

    modalities = frozenset({"text", "code"})

    def __init__(self, model, tokenizer, pooling: Pooling, prompts: str | PromptSet,
                 max_length: int | None = None, padding_side: str = "right", query_length: int | None = None,
                 document_length: int | None = None):
        super().__init__(prompts, max_length, query_length, document_length)
        if pooling not in POOLING_STRATEGIES:
            raise ValueError(f"unknown pooling {pooling!r}; choose one of {POOLING_STRATEGIES}")
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.padding_side = padding_side
        self.prompt_tokenizer = PromptTokenizer(tokenizer)
        self.recipe: str | None = None
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token

    @classmethod
    def from_pretrained(cls, name_or_path: str, pooling: Pooling | None = None,
                        prompts: str | PromptSet | None = None, max_length: int | None = None,
                        padding_side: str | None = None, dtype: torch.dtype | None = None,
                        revision: str | None = None, recipe: str | None = None, adapter: str | None = None,
                        merge_adapter: bool = True, query_length: int | None = None,
                        document_length: int | None = None, **model_kwargs: Any) -> HFTextBackbone:
        """Load a text model; prompts, pooling, padding and max length come from its recipe unless given.

        ``recipe`` names a built-in recipe (docs/models.md); by default it is read from the checkpoint
        (:func:`unret.backbones.recipes.choose_recipe`). ``adapter`` is a PEFT adapter folder put on top.
        """
        config = AutoConfig.from_pretrained(name_or_path, revision=revision)
        decoder = is_decoder(config)
        chosen = choose_recipe(name_or_path, config.to_dict(), decoder, recipe, revision,
                               warn=prompts is None and pooling is None)
        pooling = pooling or chosen.pooling
        prompts = prompts or chosen.prompts
        # Encoders (BERT, MPNet) have absolute position embeddings counted from the left edge: left padding
        # would shift every token's position, so they always pad right.
        if padding_side is None:
            padding_side = (chosen.padding_side or "left") if decoder else "right"
        elif padding_side != "right" and not decoder:
            raise ValueError(f"{name_or_path} is an encoder with absolute positions; it must pad on the right")
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, revision=revision)
        if max_length is None:
            max_length = chosen.max_length or (DEFAULT_LLM_MAX_LENGTH if decoder else
                                               min(tokenizer.model_max_length, 512))
        model = load_model(AutoModel, name_or_path, adapter, merge_adapter, revision=revision, dtype=dtype,
                           **model_kwargs)
        backbone = cls(model, tokenizer, pooling, prompts, max_length=max_length, padding_side=padding_side,
                       query_length=query_length or chosen.query_length,
                       document_length=document_length or chosen.document_length)
        backbone.recipe = recipe or chosen.name
        return backbone

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size

    def _sequences(self, items: Sequence[Item], role: str, task: str | None,
                   instruction: str | None) -> list[list[int]]:
        layouts = [self.prompt_tokenizer.layout(self.prompts.resolve(role, item.modality, task, instruction),
                                                has_image=False, has_text=True) for item in items]
        return self.prompt_tokenizer.encode_many(layouts, [item.text for item in items], [0] * len(items),
                                                 self.max_length_for(role))

    def prepare(self, items: Sequence[Item], role: str = "document", task: str | None = None,
                instruction: str | None = None, positions: Sequence[int] | None = None) -> dict[str, Any]:
        self.check_modalities(items, positions)
        sequences = self._sequences(items, role, task, instruction)
        input_ids, attention_mask = pad_batch(sequences, self.tokenizer.pad_token_id, self.padding_side)
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def token_counts(self, items: Sequence[Item], role: str = "document", task: str | None = None,
                     instruction: str | None = None) -> list[int] | None:
        if any(item.modality not in self.modalities for item in items):
            return None  # prepare() names the bad input, in batch order
        return [len(ids) for ids in self._sequences(items, role, task, instruction)]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
        return normalize(pool(hidden, attention_mask, self.pooling))  # (batch_size, hidden_size)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "recipe": self.recipe, "pooling": self.pooling, "padding_side": self.padding_side,
                "query_length": self.query_length, "document_length": self.document_length}

    def save(self, path: str | Path) -> None:
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
