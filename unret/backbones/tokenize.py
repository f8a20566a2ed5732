"""Turn (prompt, item) into token ids without ever letting user content inject control tokens.

The chat template is rendered once per prompt shape with a sentinel where user content goes; the
rendered string is split at the tokenizer's special tokens (which came from the template), and each
remaining run is tokenized with ``split_special_tokens=True`` after the sentinel is replaced by the
content. Source code containing a literal ``<|im_end|>`` therefore stays text, and for ordinary inputs
the ids equal what ``processor(apply_chat_template(...))`` produces, since tokenizers split at special
tokens before running BPE anyway.

``max_length`` bounds the whole sequence; only the item's own text is shortened, so the instruction,
the assistant prefix and the EOS that last-token pooling reads are never cut off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import torch

from unret.prompts import CONTENT, Prompt

SENTINEL = "\ue000"  # a private-use character: never in templates, replaced by the item's text
IMAGE = object()  # marks where an image's placeholder tokens go
_MAX_CHARS_PER_TOKEN = 32  # a generous bound: text beyond max_length × this many characters can never fit


@dataclass(frozen=True)
class Layout:
    """A rendered prompt: special-token ids, text runs (maybe holding the sentinel) and image slots."""

    parts: tuple  # of int (a special token id) | str (a text run) | IMAGE


class PromptTokenizer:
    """Lays out prompts with a tokenizer's chat template and encodes items into input ids."""

    def __init__(self, tokenizer, chat_renderer=None, image_placeholder: str | None = None,
                 image_token: str | None = None):
        self.tokenizer = tokenizer
        self._render_chat = chat_renderer or tokenizer.apply_chat_template
        self.image_placeholder = image_placeholder
        self.image_token_id = tokenizer.convert_tokens_to_ids(image_token) if image_token else None
        specials = sorted(
            {t.content for t in tokenizer.added_tokens_decoder.values() if t.special}
            | set(tokenizer.all_special_tokens),
            key=len,
            reverse=True,
        )
        self._special_re = re.compile("(" + "|".join(map(re.escape, specials)) + ")") if specials else None
        self._adds_special_tokens = bool(
            tokenizer("a", add_special_tokens=True)["input_ids"] != tokenizer("a", add_special_tokens=False)[
                "input_ids"]
        )
        self.layout = lru_cache(maxsize=256)(self._layout)

    def _layout(self, prompt: Prompt, has_image: bool, has_text: bool) -> Layout:
        user_text = prompt.template.replace(CONTENT, SENTINEL if has_text else "")
        if prompt.chat:
            if has_image:
                content: list | str = [{"type": "image"}, {"type": "text", "text": user_text}]
            else:
                content = user_text
            messages = [{"role": "user", "content": content}]
            if prompt.system is not None:
                messages.insert(0, {"role": "system", "content": prompt.system})
            rendered = self._render_chat(messages, tokenize=False, add_generation_prompt=True)
            rendered += prompt.assistant_prefix
        else:
            if has_image and self.image_placeholder is None:
                raise ValueError("this model has no image placeholder; it cannot read images")
            rendered = (self.image_placeholder if has_image else "") + user_text
        if has_text and rendered.count(SENTINEL) != 1:
            raise ValueError(f"prompt template must hold {CONTENT} exactly once: {prompt.template!r}")
        parts: list = []
        pieces = self._special_re.split(rendered) if self._special_re else [rendered]
        for i, piece in enumerate(pieces):
            if i % 2 == 1:  # a special token from the template
                token_id = self.tokenizer.convert_tokens_to_ids(piece)
                parts.append(IMAGE if token_id == self.image_token_id else token_id)
            elif piece:
                parts.append(piece)
        if prompt.append_eos:
            if self.tokenizer.eos_token_id is None:
                raise ValueError("prompt asks to append EOS but the tokenizer has no eos_token")
            parts.append(self.tokenizer.eos_token_id)
        if sum(p is IMAGE for p in parts) != int(has_image):
            raise ValueError("the chat template must place exactly one image placeholder per image")
        return Layout(tuple(parts))

    def _encode_run(self, run: str, add_special_tokens: bool) -> list[int]:
        return self.tokenizer(run, add_special_tokens=add_special_tokens, split_special_tokens=True,
                              verbose=False)["input_ids"]

    def encode(self, layout: Layout, text: str | None, num_image_tokens: int = 0,
               max_length: int | None = None) -> list[int]:
        """Input ids for one item; ``text`` is cut (never the template) to fit ``max_length``."""
        if max_length is not None and text and len(text) > max_length * _MAX_CHARS_PER_TOKEN:
            text = text[: max_length * _MAX_CHARS_PER_TOKEN]  # don't tokenize megabytes to keep a few hundred
        ids = self._assemble(layout, text, num_image_tokens)
        if max_length is not None and len(ids) > max_length and text:
            content = self._encode_run(text, add_special_tokens=False)
            keep = max(len(content) - (len(ids) - max_length), 1)
            while True:  # decoding and re-encoding at the cut may merge differently: shrink until it fits
                text = self.tokenizer.decode(content[:keep]).rstrip("\ufffd")
                ids = self._assemble(layout, text, num_image_tokens)
                if len(ids) <= max_length or keep == 1:
                    break
                keep = max(1, keep - max(1, (len(ids) - max_length)))
        return ids

    def _assemble(self, layout: Layout, text: str | None, num_image_tokens: int) -> list[int]:
        runs = [p for p in layout.parts if isinstance(p, str)]
        # Encoders (BERT) get their [CLS]/[SEP] from the tokenizer: their prompts are one text run.
        add_special = self._adds_special_tokens and len(layout.parts) == 1 and len(runs) == 1
        ids: list[int] = []
        for part in layout.parts:
            if part is IMAGE:
                ids.extend([self.image_token_id] * num_image_tokens)
            elif isinstance(part, str):
                ids.extend(self._encode_run(part.replace(SENTINEL, text or ""), add_special))
            else:
                ids.append(part)
        return ids


def pad_batch(sequences: list[list[int]], pad_id: int, padding_side: str = "left") -> tuple[torch.Tensor,
                                                                                            torch.Tensor]:
    """Pad id lists into ``(input_ids, attention_mask)``, both (batch_size, max_len)."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        span = slice(width - len(seq), width) if padding_side == "left" else slice(0, len(seq))
        input_ids[row, span] = torch.tensor(seq, dtype=torch.long)
        attention_mask[row, span] = 1
    return input_ids, attention_mask
