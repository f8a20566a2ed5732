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
from enum import Enum

import numpy as np
import torch

from unret.prompts import CONTENT, Prompt

SENTINEL = "\ue000"  # a private-use character: never in templates, replaced by the item's text
class _Slot(Enum):
    IMAGE = "image"  # an Enum member keeps its identity through pickling (DataLoader workers, ddp_spawn)
    VIDEO = "video"


IMAGE = _Slot.IMAGE  # marks where an image's placeholder tokens go
VIDEO = _Slot.VIDEO  # … and a video's
_MAX_CHARS_PER_TOKEN = 32  # a generous bound: text beyond max_length × this many characters can never fit
# Checked at start-up: the direct backend path must give what the transformers call gives on this.
_PROBE = "Hello <|im_end|> [SEP] </s> wörld  \n\tdef f(x):\n    return x**2  # ✓ 日本語 🙂"


@dataclass(frozen=True)
class Layout:
    """A rendered prompt, ready to fill: token ids known up front, the content run, and image slots.

    ``parts`` holds tuples of ids (special tokens and template text, tokenized once per layout), at most
    one ``str`` (the text run holding the sentinel, tokenized per item) and ``IMAGE`` markers.
    """

    parts: tuple
    add_special_tokens: bool = False  # encoders: the single run gets the tokenizer's [CLS] … [SEP]

    @property
    def content_run(self) -> str | None:
        return next((p for p in self.parts if isinstance(p, str)), None)


class PromptTokenizer:
    """Lays out prompts with a tokenizer's chat template and encodes items into input ids."""

    def __init__(self, tokenizer, chat_renderer=None, image_placeholder: str | None = None,
                 image_token: str | None = None, video_placeholder: str | None = None,
                 video_token: str | None = None, video_wrapper: tuple[str, str] | None = None):
        self.tokenizer = tokenizer
        self._render_chat = chat_renderer or tokenizer.apply_chat_template
        self.image_placeholder = image_placeholder
        self.image_token_id = tokenizer.convert_tokens_to_ids(image_token) if image_token else None
        self.video_placeholder = video_placeholder
        self.video_token_id = tokenizer.convert_tokens_to_ids(video_token) if video_token else None
        # Tokens around a video's slot that its fill brings itself (Qwen3-VL wraps each timestamped patch).
        self.video_wrapper = tuple(tokenizer.convert_tokens_to_ids(t) for t in video_wrapper) if video_wrapper else None
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
        self._layouts: dict[tuple[Prompt, bool, bool, bool], Layout] = {}
        self._direct = self._direct_backend_agrees()

    def _direct_backend_agrees(self) -> bool:
        """Whether calling the fast tokenizer's Rust backend directly reproduces the transformers call.

        ``encode_batch_fast`` on the backend skips transformers' per-call wrapping (~30 % of tokenisation
        time). Each call first puts the backend in the state transformers' own call would (truncation and
        padding off — a tokenizer.json may ship with them on —, special-token text split as plain text),
        and the direct path is used only if it matches the transformers call on a probe string.
        """
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is None or not hasattr(backend, "encode_batch_fast"):
            return False
        return all(self._encode_direct([_PROBE], add_special)[0] == self._call_tokenizer([_PROBE], add_special)[0]
                   for add_special in (False, True))

    def _encode_direct(self, runs: list[str], add_special_tokens: bool) -> list[list[int]]:
        backend = self.tokenizer.backend_tokenizer
        if backend.truncation is not None:
            backend.no_truncation()
        if backend.padding is not None:
            backend.no_padding()
        backend.encode_special_tokens = True
        return [e.ids for e in backend.encode_batch_fast(runs, add_special_tokens=add_special_tokens)]

    def _call_tokenizer(self, runs: list[str], add_special_tokens: bool) -> list[list[int]]:
        return self.tokenizer(runs, add_special_tokens=add_special_tokens, split_special_tokens=True,
                              verbose=False)["input_ids"]

    def _tokenize(self, runs: list[str], add_special_tokens: bool) -> list[list[int]]:
        if self._direct:
            return self._encode_direct(runs, add_special_tokens)
        return self._call_tokenizer(runs, add_special_tokens)

    def layout(self, prompt: Prompt, has_image: bool, has_text: bool, has_video: bool = False) -> Layout:
        """The prompt's layout for an item shape, rendered once and memoised."""
        key = (prompt, has_image, has_text, has_video)
        if key not in self._layouts:
            self._layouts[key] = self._layout(prompt, has_image, has_text, has_video)
        return self._layouts[key]

    def _layout(self, prompt: Prompt, has_image: bool, has_text: bool, has_video: bool = False) -> Layout:
        user_text = prompt.template.replace(CONTENT, SENTINEL if has_text else "")
        if prompt.chat:
            if has_image or has_video:
                content: list | str = [{"type": "video" if has_video else "image"}, {"type": "text", "text": user_text}]
            else:
                content = user_text
            messages = [{"role": "user", "content": content}]
            if prompt.system is not None:
                messages.insert(0, {"role": "system", "content": prompt.system})
            rendered = self._render_chat(messages, tokenize=False, add_generation_prompt=prompt.generation_prompt)
            rendered += prompt.assistant_prefix
        else:
            if has_image and self.image_placeholder is None:
                raise ValueError("this model has no image placeholder; it cannot read images")
            if has_video and self.video_placeholder is None:
                raise ValueError("this model has no video placeholder; it cannot read videos")
            vision = self.image_placeholder if has_image else self.video_placeholder if has_video else ""
            rendered = vision + user_text
        if has_text and rendered.count(SENTINEL) != 1:
            raise ValueError(f"prompt template must hold {CONTENT} exactly once: {prompt.template!r}")
        pieces = self._special_re.split(rendered) if self._special_re else [rendered]
        raw: list = []
        for i, piece in enumerate(pieces):
            if i % 2 == 1:  # a special token from the template
                token_id = self.tokenizer.convert_tokens_to_ids(piece)
                slots = {self.image_token_id: IMAGE, self.video_token_id: VIDEO}
                raw.append(slots.get(token_id, token_id) if token_id is not None else token_id)
            elif piece:
                raw.append(piece)
        if prompt.append_eos:
            if self.tokenizer.eos_token_id is None:
                raise ValueError("prompt asks to append EOS but the tokenizer has no eos_token")
            raw.append(self.tokenizer.eos_token_id)
        if sum(p is IMAGE for p in raw) != int(has_image):
            raise ValueError("the chat template must place exactly one image placeholder per image")
        if sum(p is VIDEO for p in raw) != int(has_video):
            raise ValueError("the chat template must place exactly one video placeholder per video")
        if has_video and self.video_wrapper is not None:
            at = raw.index(VIDEO)
            if 0 < at < len(raw) - 1 and (raw[at - 1], raw[at + 1]) == self.video_wrapper:
                raw = [*raw[: at - 1], VIDEO, *raw[at + 2 :]]
        # Encoders (BERT) get their [CLS]/[SEP] from the tokenizer: their prompts are one text run.
        add_special = self._adds_special_tokens and len(raw) == 1 and isinstance(raw[0], str)
        parts: list = []
        for part in raw:
            if isinstance(part, str) and SENTINEL not in part:
                part = tuple(self._encode_run(part, add_special))  # template text: tokenized once
            elif isinstance(part, int):
                part = (part,)
            if isinstance(part, tuple) and parts and isinstance(parts[-1], tuple):
                parts[-1] = parts[-1] + part
            else:
                parts.append(part)
        return Layout(tuple(parts), add_special)

    def _encode_run(self, run: str, add_special_tokens: bool) -> list[int]:
        return self._tokenize([run], add_special_tokens)[0]

    def encode_many(self, layouts: list[Layout], texts: list[str | None], num_image_tokens: list,
                    max_length: int | None = None) -> list[list[int]]:
        """Input ids for a batch of items: every content run is tokenized in one batched call.

        ``num_image_tokens[i]`` is the number of placeholder tokens of item i's image or video, or for a
        video the list of ids that fills its slot (Qwen3-VL's timestamped patches).
        """
        if max_length is not None:  # never tokenize megabytes to keep a few hundred tokens
            texts = [t[: max_length * _MAX_CHARS_PER_TOKEN] if t else t for t in texts]
        runs: dict[bool, list[tuple[int, str]]] = {False: [], True: []}
        for i, (layout, text) in enumerate(zip(layouts, texts, strict=True)):
            run = layout.content_run
            if run is not None:
                runs[layout.add_special_tokens].append((i, run.replace(SENTINEL, text or "")))
        encoded: dict[int, list[int]] = {}
        for add_special, batch in runs.items():
            if batch:
                ids = self._tokenize([r for _, r in batch], add_special)
                encoded.update(zip((i for i, _ in batch), ids, strict=True))
        out = []
        for i, layout in enumerate(layouts):
            ids = self._assemble(layout, encoded.get(i, []), num_image_tokens[i])
            if max_length is not None and len(ids) > max_length and texts[i]:
                ids = self._truncate(layout, texts[i], num_image_tokens[i], len(ids), max_length)
            out.append(ids)
        return out

    def encode(self, layout: Layout, text: str | None, num_image_tokens: int = 0,
               max_length: int | None = None) -> list[int]:
        """Input ids for one item; ``text`` is cut (never the template) to fit ``max_length``."""
        return self.encode_many([layout], [text], [num_image_tokens], max_length)[0]

    def _truncate(self, layout: Layout, text: str, num_image_tokens: int, length: int, max_length: int) -> list[int]:
        content = self._encode_run(text, add_special_tokens=False)
        keep = max(len(content) - (length - max_length), 1)
        while True:  # decoding and re-encoding at the cut may merge differently: shrink until it fits
            text = self.tokenizer.decode(content[:keep]).rstrip("\ufffd")
            ids = self._assemble(layout, self._encode_content(layout, text), num_image_tokens)
            if len(ids) <= max_length or keep == 1:
                return ids
            keep = max(1, keep - max(1, len(ids) - max_length))

    def _encode_content(self, layout: Layout, text: str) -> list[int]:
        run = layout.content_run
        return [] if run is None else self._encode_run(run.replace(SENTINEL, text), layout.add_special_tokens)

    def _assemble(self, layout: Layout, content_ids: list[int], num_image_tokens: int | list[int]) -> list[int]:
        ids: list[int] = []
        for part in layout.parts:
            if part is IMAGE:
                ids.extend([self.image_token_id] * num_image_tokens)
            elif part is VIDEO:  # an item holds an image or a video: a count of pads, or the clip's own ids
                ids.extend(num_image_tokens if isinstance(num_image_tokens, list)
                           else [self.video_token_id] * num_image_tokens)
            elif isinstance(part, str):
                ids.extend(content_ids)
            else:
                ids.extend(part)
        return ids


def pad_batch(sequences: list[list[int]], pad_id: int, padding_side: str = "left") -> tuple[torch.Tensor,
                                                                                            torch.Tensor]:
    """Pad id lists into ``(input_ids, attention_mask)``, both (batch_size, max_len)."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    width = max(len(s) for s in sequences)
    input_ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
    attention_mask = np.zeros((len(sequences), width), dtype=np.int64)
    for row, seq in enumerate(sequences):
        span = slice(width - len(seq), width) if padding_side == "left" else slice(0, len(seq))
        input_ids[row, span] = seq
        attention_mask[row, span] = 1
    return torch.from_numpy(input_ids), torch.from_numpy(attention_mask)
