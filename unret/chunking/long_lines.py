"""Token counts of many lines in bounded batches, and lines too long for one chunk cut into windows of
characters (minified code, a log or a JSON document without newlines).

A tokenizer builds several structures per token (ids, offsets, the token strings), so tokenizing a 20 MB
line at once took ~150x its size in memory only to learn that it is over budget. Here text is tokenized
at most ``BATCH_CHARS`` characters per call, and a line longer than ``long_chars`` is counted in pieces of
about one budget of characters (a piece over budget, e.g. emoji under byte-level BPE, is halved), so
memory stays a small multiple of the file. The pieces are then packed into windows of the budget; their
summed counts are an upper bound of a window's count wherever a cut splits a word (cuts go after
whitespace when there is some nearby).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from unret.chunking.lines import TokenCounter

BATCH_CHARS = 1 << 16  # characters handed to the tokenizer in one call
LONG_LINE_FACTOR = 8  # a line of more than this many characters per budget token is counted in pieces


def count_many(texts: Iterable[str], count: TokenCounter) -> Iterator[int]:
    """Token counts of ``texts``, tokenized in batches of about ``BATCH_CHARS`` characters."""
    batch = getattr(count, "batch", None)
    if batch is None:
        yield from (count(text) for text in texts)
        return
    buffer: list[str] = []
    chars = 0
    for text in texts:
        buffer.append(text)
        chars += len(text)
        if chars >= BATCH_CHARS:
            yield from batch(buffer)
            buffer, chars = [], 0
    if buffer:
        yield from batch(buffer)


class LineCounter:
    """Tokens per line (+1 for the newline) of ``lines``; the pieces of long lines are kept for ``windows``."""

    def __init__(self, lines: Sequence[str], count: TokenCounter, budget: int) -> None:
        self.lines, self.count, self.budget = lines, count, budget
        self.long_chars = LONG_LINE_FACTOR * budget
        self._pieces: dict[int, list[tuple[int, int, int]]] = {}
        short = (line if len(line) <= self.long_chars else "" for line in lines)
        self.tokens = [n + 1 for n in count_many(short, count)]
        for number, line in enumerate(lines, 1):
            if len(line) > self.long_chars:
                self.tokens[number - 1] = sum(n for _, _, n in self._cut(number)) + 1

    def windows(self, number: int) -> list[tuple[int, int]]:
        """Character offsets ``[start, end)`` of line ``number`` (1-based) in windows of at most the budget."""
        out: list[tuple[int, int]] = []
        start, end, total = 0, 0, 0
        for a, b, n in self._cut(number):
            if total and total + n > self.budget:
                out.append((start, end))
                start, total = a, 0
            end, total = b, total + n
        if end > start:
            out.append((start, end))
        return out

    def _cut(self, number: int) -> list[tuple[int, int, int]]:
        """(start, end, tokens) pieces of line ``number``, each within the budget where one character is."""
        if number not in self._pieces:
            line = self.lines[number - 1]
            spans = _pieces(line, self.budget)
            pieces = []
            for (a, b), n in zip(spans, count_many((line[a:b] for a, b in spans), self.count), strict=True):
                pieces += self._halve(line, a, b, n)
            self._pieces[number] = pieces
        return self._pieces[number]

    def _halve(self, line: str, a: int, b: int, n: int) -> list[tuple[int, int, int]]:
        if n <= self.budget or b - a <= 1:
            return [(a, b, n)]
        mid = (a + b) // 2
        return (self._halve(line, a, mid, self.count(line[a:mid]))
                + self._halve(line, mid, b, self.count(line[mid:b])))


def _pieces(line: str, size: int) -> list[tuple[int, int]]:
    """``line`` cut every ``size`` characters, after a space when one falls in the second half of a piece."""
    out = []
    start, n = 0, len(line)
    while start < n:
        end = min(start + size, n)
        if end < n:
            space = line.rfind(" ", start + size // 2, end)
            if space >= 0:
                end = space + 1
        out.append((start, end))
        start = end
    return out
