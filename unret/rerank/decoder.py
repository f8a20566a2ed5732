"""A decoder LLM as a reranker: the yes/no recipe of Qwen3-Reranker and Qwen3-VL-Reranker.

The model reads one chat turn holding an instruction, the query and the document, and the score is the
probability of "yes" against "no" as the next token: ``softmax([logit_no, logit_yes])[1]``, equal to
``sigmoid(logit_yes − logit_no)``. It follows the official scoring code of the published models:

* text (Qwen3-Reranker model card, ``Qwen/Qwen3-Reranker-0.6B``: ``format_instruction`` /
  ``process_inputs`` / ``compute_logits``): the system prompt ``Judge whether the Document meets the
  requirements based on the Query and the Instruct provided. Note that the answer can only be "yes" or
  "no".``, the user turn ``<Instruct>: {instruction}\\n<Query>: {query}\\n<Document>: {doc}`` and the suffix
  ``<|im_end|>\\n<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n``; the middle is truncated to
  ``max_length`` minus the prefix and suffix.
* vision-language (Qwen3-VL-Reranker, ``QwenLM/Qwen3-VL-Embedding``'s reranker script:
  ``format_mm_instruction`` / ``compute_scores``): the same system prompt as a chat message, a user message
  of the parts ``<Instruct>: …``, ``<Query>:``, the query's image and text, ``\\n<Document>:``, the
  document's image and text (``NULL`` for an empty side), rendered by the processor's chat template with the
  generation prompt; the score is ``sigmoid((w_yes − w_no) · h_last)`` with ``w`` rows of the LM head.

Both read the last *real* token's hidden state (found from the attention mask, so any padding side gives
the same score) and multiply it by the two LM-head rows only, instead of computing the full vocabulary.
It runs any Qwen2 / Qwen2.5 / Qwen3 text checkpoint and Qwen2-VL / Qwen2.5-VL / Qwen3-VL; a base model that
was not trained as a reranker gives valid but uninformative scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unret.items import Item
from unret.rerank.base import Reranker

SYSTEM = ('Judge whether the Document meets the requirements based on the Query and the Instruct provided. '
          'Note that the answer can only be "yes" or "no".')
PREFIX = f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n"
SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
DEFAULT_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
TEXT_TYPES = ("qwen2", "qwen3")
VL_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")
DEFAULT_MAX_LENGTH = 8192


def pair_text(query: str, document: str, instruction: str = DEFAULT_INSTRUCTION) -> str:
    """The user content of the text recipe (between `PREFIX` and `SUFFIX`)."""
    return f"<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}"


def pair_messages(query: Item, document: Item, instruction: str = DEFAULT_INSTRUCTION) -> list[dict]:
    """The chat messages of the vision-language recipe; images are PIL images in the content parts."""
    parts: list[dict[str, Any]] = [{"type": "text", "text": f"<Instruct>: {instruction}"}]
    for prefix, item in (("<Query>:", query), ("\n<Document>:", document)):
        parts.append({"type": "text", "text": prefix})
        if not item.has_image and not item.text:
            parts.append({"type": "text", "text": "NULL"})
        if item.has_image:
            parts.append({"type": "image", "image": item.load_image()})
        if item.text:
            parts.append({"type": "text", "text": item.text})
    return [{"role": "system", "content": [{"type": "text", "text": SYSTEM}]}, {"role": "user", "content": parts}]


def last_token_states(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The hidden state of each row's last real token, whichever side the padding is on."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    last = (attention_mask.long() * positions).argmax(dim=1)  # (batch,)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]  # (batch, hidden)


class DecoderReranker(Reranker):
    """A causal (vision-)language model scored by its yes/no next-token logits (see the module docs)."""

    def __init__(self, model: Any, tokenizer: Any, processor: Any = None, instruction: str = DEFAULT_INSTRUCTION,
                 max_length: int = DEFAULT_MAX_LENGTH, padding_side: str = "left", batch_size: int = 8,
                 name: str = ""):
        self.model, self.tokenizer, self.processor = model.eval(), tokenizer, processor
        self.instruction, self.max_length, self.padding_side = instruction, max_length, padding_side
        self.batch_size, self.name = batch_size, name
        self.modalities = frozenset({"text", "code", "image", "image+text"} if processor else {"text", "code"})
        yes, no = tokenizer.convert_tokens_to_ids("yes"), tokenizer.convert_tokens_to_ids("no")
        head = model.get_output_embeddings()
        self._head = head.weight[[no, yes]].detach()  # (2, hidden): rows for "no", "yes"
        self._bias = None if getattr(head, "bias", None) is None else head.bias[[no, yes]].detach()
        self._prefix = tokenizer(PREFIX, add_special_tokens=False)["input_ids"]
        self._suffix = tokenizer(SUFFIX, add_special_tokens=False)["input_ids"]

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, device: str | None = None, dtype: Any = None,
                        **kwargs: Any) -> DecoderReranker:
        """Load a Qwen2/3 text (``AutoModelForCausalLM``) or Qwen-VL (``AutoModelForImageTextToText``) checkpoint."""
        from transformers import (
            AutoConfig,
            AutoModelForCausalLM,
            AutoModelForImageTextToText,
            AutoProcessor,
            AutoTokenizer,
        )

        path = str(name_or_path)
        model_type = AutoConfig.from_pretrained(path).model_type
        processor = None
        if model_type in VL_TYPES:
            model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype or "float32")
            processor = AutoProcessor.from_pretrained(path)
            tokenizer = processor.tokenizer
        else:
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or "float32")
            tokenizer = AutoTokenizer.from_pretrained(path)
        if device is not None:
            model = model.to(device)
        return cls(model, tokenizer, processor, name=path, **kwargs)

    def _text_inputs(self, queries: Sequence[Item], documents: Sequence[Item]) -> dict[str, torch.Tensor]:
        budget = self.max_length - len(self._prefix) - len(self._suffix)
        # split_special_tokens: a document quoting "<|im_end|>" cannot close the turn (docs: Known traps)
        middles = self.tokenizer([pair_text(q.text or "", d.text or "", self.instruction)
                                  for q, d in zip(queries, documents, strict=True)],
                                 add_special_tokens=False, truncation=True, max_length=budget,
                                 split_special_tokens=True)["input_ids"]
        rows = [self._prefix + ids + self._suffix for ids in middles]
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            span = slice(width - len(row), width) if self.padding_side == "left" else slice(0, len(row))
            ids[i, span], mask[i, span] = torch.tensor(row), 1
        return {"input_ids": ids, "attention_mask": mask}

    def _vl_inputs(self, queries: Sequence[Item], documents: Sequence[Item]) -> dict[str, torch.Tensor]:
        conversations = [pair_messages(q, d, self.instruction) for q, d in zip(queries, documents, strict=True)]
        texts = [self.processor.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                 for c in conversations]
        images = [[p["image"] for m in c for p in m["content"] if p["type"] == "image"] for c in conversations]
        inputs = self.processor(text=texts, images=images if any(images) else None, padding=True,
                                padding_side=self.padding_side, return_tensors="pt")
        return dict(inputs)

    @torch.inference_mode()
    def score_items(self, queries: Sequence[Item], documents: Sequence[Item]) -> np.ndarray:
        # a vision-language model reads every pair in its chat format, so a pair's score never depends on
        # whether its batch-mates carry images
        vl = self.processor is not None
        inputs = self._vl_inputs(queries, documents) if vl else self._text_inputs(queries, documents)
        device = self._head.device
        inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
        hidden = self.model.model(**inputs, use_cache=False).last_hidden_state  # (batch, seq, hidden)
        last = last_token_states(hidden, inputs["attention_mask"])  # (batch, hidden)
        logits = last.float() @ self._head.float().T  # (batch, 2): no, yes
        if self._bias is not None:
            logits = logits + self._bias.float()
        return torch.softmax(logits, dim=-1)[:, 1].cpu().numpy()
