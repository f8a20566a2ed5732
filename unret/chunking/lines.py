"""Spans of lines and the packing every chunker shares: defs stay whole when they fit, oversized ones
are split into their children (a class into methods) or into windows of whole lines."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class Span:
    """Lines ``start``..``end`` (1-based, inclusive) of a unit: a def, a section, or a window."""

    start: int
    end: int
    kind: str
    name: str | None = None
    children: tuple[Span, ...] = field(default=(), repr=False)  # nested defs, used when this one is too big
    truncated: bool = False


def pack_spans(spans: Sequence[Span], lines: Sequence[str], line_tokens: Sequence[int], budget: int,
               overlap: int, first: int | None = None, last: int | None = None, gap_kind: str = "module",
               gap_name: str | None = None) -> Iterator[Span]:
    """``spans`` (sorted, non-overlapping) plus the gaps between them within ``first``..``last``, each cut
    to fit ``budget`` tokens. Gaps holding no word character (blank lines, a lone ``}``) are dropped."""
    first = 1 if first is None else first
    last = len(lines) if last is None else last
    cursor = first
    for span in [*spans, None]:
        gap_end = (span.start - 1) if span is not None else last
        if gap_end >= cursor and any(_has_word(lines[i - 1]) for i in range(cursor, gap_end + 1)):
            yield from _fit(Span(cursor, gap_end, gap_kind, gap_name), lines, line_tokens, budget, overlap)
        if span is None:
            break
        yield from _fit(span, lines, line_tokens, budget, overlap)
        cursor = span.end + 1


def _fit(span: Span, lines: Sequence[str], line_tokens: Sequence[int], budget: int, overlap: int) -> Iterator[Span]:
    if sum(line_tokens[span.start - 1 : span.end]) <= budget:
        yield replace(span, children=())
    elif span.children:
        yield from pack_spans(span.children, lines, line_tokens, budget, overlap, span.start, span.end,
                              gap_kind=span.kind, gap_name=span.name)
    else:
        yield from split_lines(span, line_tokens, budget, overlap, lines)


def split_lines(span: Span, line_tokens: Sequence[int], budget: int, overlap: int,
                lines: Sequence[str] | None = None) -> Iterator[Span]:
    """Windows of whole lines of at most ``budget`` tokens, cut after a blank line where one falls in
    the second half of a window; consecutive windows share up to ``overlap`` tokens of lines."""
    start = span.start
    while start <= span.end:
        total, end = 0, start - 1
        while end < span.end and total + line_tokens[end] <= budget:
            total += line_tokens[end]
            end += 1
        if end < start:  # one line alone is over budget: the model will see its beginning only
            yield replace(span, start=start, end=start, children=(), truncated=True)
            start += 1
            continue
        if end < span.end and lines is not None:
            blank = next((i for i in range(end, start + (end - start) // 2, -1) if not lines[i - 1].strip()), None)
            if blank is not None:
                end = blank
        yield replace(span, start=start, end=end, children=())
        if end >= span.end:
            break
        back, kept = end, 0
        while lines is not None and back > start and not lines[back - 1].strip():
            back -= 1  # trailing blank lines are not worth sharing
        while overlap and back > start + 1 and kept + line_tokens[back - 1] <= overlap:
            kept += line_tokens[back - 1]
            back -= 1
        start = back + 1 if kept else end + 1


def _has_word(line: str) -> bool:
    return any(ch.isalnum() for ch in line)
