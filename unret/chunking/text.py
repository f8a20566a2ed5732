"""Markdown into sections (one per heading, code fences respected) and other text into one passage run
that ``split_lines`` cuts at paragraph breaks."""

from __future__ import annotations

import re
from collections.abc import Sequence

from unret.chunking.lines import Span

_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def markdown_spans(lines: Sequence[str]) -> list[Span]:
    """One span per section: from a heading (outside code fences) to the line before the next one."""
    starts: list[tuple[int, str | None]] = [(1, None)]
    fence = None
    for number, line in enumerate(lines, 1):
        marker = _FENCE.match(line)
        if marker:
            fence = None if fence == marker.group(1) else (fence or marker.group(1))
            continue
        heading = None if fence else _HEADING.match(line)
        if heading:
            if number == 1:
                starts[0] = (1, heading.group(2))
            else:
                starts.append((number, heading.group(2)))
    ends = [s - 1 for s, _ in starts[1:]] + [len(lines)]
    return [Span(start, end, "section", name) for (start, name), end in zip(starts, ends, strict=True)
            if end >= start]


def paragraph_spans(lines: Sequence[str]) -> list[Span]:
    """The whole text as one passage run; the packer cuts it after blank lines (paragraph ends)."""
    return [Span(1, len(lines), "passage")]
