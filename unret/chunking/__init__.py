"""Chunking: split code and documents into retrievable units that fit the model, with line ranges.

A model embeds at most ``max_length`` tokens; embedding a whole file keeps its first screenful (usually
the imports) and drops the rest, so a large module is never found by what its functions do. Here files
become chunks instead:

* Python: functions, classes and methods from ``ast`` (a class that does not fit is split into its
  methods and its header), the module-level code between them as its own chunks;
* other languages tree-sitter knows (``unret.chunking.treesitter``): the same, from its syntax tree;
* Markdown: one chunk per section (heading); other text: paragraphs packed into passages;
* anything still over the token budget (a 300-line function, an unparsable file) is split into windows
  of whole lines, optionally overlapping by ``overlap`` tokens;
* a single line over the budget (minified code, a log without newlines) is split into windows of its
  characters (``start_col``/``end_col``), counted in pieces so that memory stays O(file)
  (``unret.chunking.long_lines``); code with such a line is not parsed for definitions.

Line numbers and columns are 1-based and inclusive. With ``mode="none"`` a file over the budget is one
``truncated`` chunk (the model then embeds its beginning).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from unret.chunking.lines import Span, TokenCounter, pack_spans, split_lines
from unret.chunking.long_lines import LineCounter
from unret.chunking.python import python_spans
from unret.chunking.text import markdown_spans, paragraph_spans
from unret.chunking.treesitter import treesitter_spans

__all__ = ["Chunk", "ChunkSettings", "Span", "TokenCounter", "chunk_document", "token_counter"]

CHUNKING_MODES = ("auto", "none")
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
PARSE_LINE_LIMIT = 10_000  # code with a longer line (minified) is cut into windows, not parsed for defs
# A truncated file (mode "none") is handed to the model cut to this many characters: more than any model's
# max length reads, and the model's tokenizer then never builds per-token structures for a 20 MB file.
TRUNCATED_CHARS = 1 << 20


@dataclass(frozen=True)
class Chunk:
    """A contiguous part of a file: its text, 1-based inclusive line range, kind and symbol name."""

    text: str
    start_line: int
    end_line: int
    kind: str = "file"  # file | module | function | class | method | section | passage | lines
    name: str | None = None
    truncated: bool = False
    start_col: int | None = None  # set for a window of one long line: its characters start_col..end_col
    end_col: int | None = None


@dataclass(frozen=True)
class ChunkSettings:
    """How files are chunked: ``mode`` ``"auto"`` or ``"none"`` (one chunk per file), the budget in tokens,
    the overlap between windows of an oversized unit, and the token counter of the model."""

    mode: str = "auto"
    max_tokens: int = 256
    overlap: int = 0
    count: TokenCounter | None = None

    def __post_init__(self) -> None:
        if self.mode not in CHUNKING_MODES:
            raise ValueError(f"chunking must be one of {CHUNKING_MODES}, got {self.mode!r}")
        if self.max_tokens < 8:
            raise ValueError(f"chunk size must be at least 8 tokens, got {self.max_tokens}")
        if not 0 <= self.overlap < self.max_tokens:
            raise ValueError(f"chunk overlap must be in [0, {self.max_tokens}), got {self.overlap}")

    @property
    def key(self) -> str:
        """Recorded with each chunk: a file indexed with other settings counts as changed."""
        return f"{self.mode}:{self.max_tokens}:{self.overlap}"


def chunk_document(text: str, settings: ChunkSettings, language: str | None = None,
                   suffix: str = "") -> list[Chunk]:
    """Chunks of one file's ``text`` (code when ``language`` is set), covering all its non-blank lines."""
    lines = text.splitlines()
    counter = LineCounter(lines, settings.count or approximate_tokens, settings.max_tokens)
    line_tokens = counter.tokens
    if settings.mode == "none" or not lines:
        truncated = sum(line_tokens) - len(lines) > settings.max_tokens
        shown = text[:TRUNCATED_CHARS] if truncated else text  # the model reads the beginning only
        return [Chunk(shown, 1, max(len(lines), 1), "file", None, truncated=truncated)]
    if sum(line_tokens) <= settings.max_tokens:  # the whole file fits: one chunk, as before chunking
        return [Chunk(text, 1, len(lines), "file")]
    minified = language is not None and any(len(line) > PARSE_LINE_LIMIT for line in lines)
    spans = [Span(1, len(lines), "lines")] if minified else _spans(text, lines, language, suffix.lower())
    chunks = []
    windowed: set[int] = set()
    for span in pack_spans(spans, lines, line_tokens, settings.max_tokens, settings.overlap):
        if span.truncated:  # one line over the budget: windows of its characters (once, if defs share it)
            if span.start in windowed:
                continue
            windowed.add(span.start)
            line = lines[span.start - 1]
            chunks += [Chunk(line[a:b], span.start, span.start, span.kind, span.name, False, a + 1, b)
                       for a, b in counter.windows(span.start) if line[a:b].strip()]
            continue
        start, end = span.start, span.end
        while start < end and not lines[start - 1].strip():  # no blank lines at either end
            start += 1
        while end > start and not lines[end - 1].strip():
            end -= 1
        body = "\n".join(lines[start - 1 : end])
        if body.strip():
            chunks.append(Chunk(body, start, end, span.kind, span.name, span.truncated))
    return chunks


def _spans(text: str, lines: Sequence[str], language: str | None, suffix: str) -> list[Span]:
    if language == "python":
        spans = python_spans(text, len(lines))
        if spans is not None:
            return spans
    elif language is not None:
        spans = treesitter_spans(text, language, len(lines))
        if spans is not None:
            return spans
    if language is None and suffix in MARKDOWN_SUFFIXES:
        return markdown_spans(lines)
    if language is None:
        return paragraph_spans(lines)
    return [Span(1, len(lines), "lines")]  # code without a parser: windows of whole lines


def approximate_tokens(text: str) -> int:
    """~4 characters per token: the fallback when the model's tokenizer is not reachable."""
    return (len(text) + 3) // 4


class _HFCounter:
    """Counts tokens with a transformers tokenizer; ``batch`` tokenizes many lines in one call."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer

    def __call__(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def batch(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        return [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]]


def token_counter(backbone) -> Callable[[str], int]:
    """The token counter of ``backbone``'s tokenizer (Qwen processors, BERT-like encoders, HF-tokenized
    CLIP), else the ~4-characters-per-token estimate."""
    tokenizer = getattr(backbone, "tokenizer", None)
    if tokenizer is None and getattr(backbone, "processor", None) is not None:
        tokenizer = getattr(backbone.processor, "tokenizer", None)
    inner = getattr(tokenizer, "tokenizer", None)  # open_clip's HFTokenizer wraps a transformers one
    for candidate in (tokenizer, inner):
        if candidate is not None and hasattr(candidate, "convert_tokens_to_ids") and callable(candidate):
            return _HFCounter(candidate)
    return approximate_tokens


def split_text(text: str, max_tokens: int, count: TokenCounter | None = None) -> list[str]:
    """``text`` cut into windows of whole lines of at most ``max_tokens`` tokens (for callers with raw text)."""
    lines = text.splitlines()
    line_tokens = LineCounter(lines, count or approximate_tokens, max_tokens).tokens
    return ["\n".join(lines[s.start - 1 : s.end]) for s in split_lines(Span(1, len(lines), "lines"), line_tokens,
                                                                         max_tokens, 0)]
