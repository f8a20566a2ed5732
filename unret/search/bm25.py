"""The lexical index: BM25 (``bm25s``) over document texts, with a tokenizer that also reads code identifiers.

A dense retriever is only interesting if it beats lexical matching, and exact identifiers (``parse_url``,
an error code) are where lexical matching wins, so the lexical index lives beside the vector index and
hybrid search fuses both. Plain word tokenizers see ``parse_url`` or ``parseURL`` as one rare token that
no query contains; `tokenize` keeps the whole identifier *and* its snake_case / camelCase parts, so
"parse a URL" matches both.

bm25s indexes a corpus in one go and has no incremental add or remove, so the index keeps each document's
text and rebuilds the BM25 matrices lazily, on the first search after a change (bm25s indexes ~10⁵ short
documents per second). The texts are what is saved: one JSON-lines file written atomically.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import bm25s
import numpy as np

from unret.atomic import atomic_open
from unret.errors import IndexCorruptError

_CHUNK = re.compile(r"\w+")
# camelCase / PascalCase / ACRONYMWord / digits (identifiers with non-ASCII letters split on "_" only).
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
STOPWORDS: frozenset[str] = frozenset(bm25s.stopwords.STOPWORDS_EN)
LEXICAL_FILE = "lexical.jsonl"
FORMAT_VERSION = 1


def tokenize(text: str, stopwords: Iterable[str] = STOPWORDS, min_length: int = 2) -> list[str]:
    """Lower-cased words; an identifier yields itself and its parts (``getHTTPResponse`` → get, http, …)."""
    stop = stopwords if isinstance(stopwords, (set, frozenset)) else frozenset(stopwords)
    tokens: list[str] = []
    for chunk in _CHUNK.findall(text):
        pieces = [p for p in chunk.split("_") if p]
        parts = [p.lower() for piece in pieces for p in (_PART.findall(piece) if piece.isascii() else [piece])]
        whole = chunk.lower().strip("_")
        if len(parts) > 1 and len(whole) >= min_length and whole not in stop:
            tokens.append(whole)
        tokens.extend(p for p in parts if len(p) >= min_length and p not in stop)
    return tokens


class LexicalIndex:
    """BM25 over ``id → text``; re-adding an id replaces its text. Thread-safe.

    ``LexicalIndex().add(["d1", "d2"], ["def parse_url(u): ...", "a cat"]).search(["parse a URL"], k=5)``
    returns ``[[("d1", <score>)]]``: documents sharing no term with the query are left out.
    """

    def __init__(self, k1: float = 1.5, b: float = 0.75, method: str = "lucene"):
        self.k1, self.b, self.method = k1, b, method
        self._texts: dict[str, str] = {}
        self._lock = threading.Lock()
        self._ids: list[str] = []  # row order of the built model
        self._model: bm25s.BM25 | None = None
        self._dirty = True

    def __len__(self) -> int:
        return len(self._texts)

    def __contains__(self, id: object) -> bool:
        return id in self._texts

    def ids(self) -> list[str]:
        """A snapshot of the indexed ids."""
        with self._lock:
            return list(self._texts)

    def text(self, id: str) -> str | None:
        """The indexed text of ``id`` (None if absent) — what snippets are cut from."""
        return self._texts.get(id)

    def add(self, ids: Sequence[str], texts: Sequence[str]) -> LexicalIndex:
        """Index (or replace) documents; an image without text is an empty document. Returns self."""
        if len(ids) != len(texts):
            raise ValueError(f"got {len(ids)} ids but {len(texts)} texts")
        for i, t in zip(ids, texts, strict=True):
            if not isinstance(t, str):
                raise TypeError(f"text of {i!r} must be a string, got {type(t).__name__}")
        with self._lock:
            self._texts.update(zip(ids, texts, strict=True))
            self._dirty = True
        return self

    def remove(self, ids: Iterable[str]) -> int:
        """Remove documents (unknown ids are ignored: the vector index is the one that checks ids)."""
        with self._lock:
            n = sum(self._texts.pop(i, None) is not None for i in ids)
            self._dirty = self._dirty or n > 0
            return n

    def _built(self) -> tuple[list[str], bm25s.BM25 | None]:
        with self._lock:
            if self._dirty:
                self._ids = list(self._texts)
                tokens = [tokenize(self._texts[i]) for i in self._ids]
                self._model = None
                if any(tokens):  # bm25s cannot index a corpus without a single word (e.g. images only)
                    self._model = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
                    self._model.index(tokens, show_progress=False)
                self._dirty = False
            return self._ids, self._model

    def search(self, queries: Sequence[str], k: int = 10,
               accept: Callable[[str], bool] | None = None) -> list[list[tuple[str, float]]]:
        """Top-``k`` ``(id, score)`` per query, best first, among documents sharing a term with it.

        ``accept(id)`` (optional) keeps only the documents it returns true for — applied inside BM25 as a
        mask, so a selective filter still returns ``k`` hits when ``k`` exist.
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        ids, model = self._built()
        if model is None or not queries:
            return [[] for _ in queries]
        mask = None
        if accept is not None:
            mask = np.fromiter((accept(i) for i in ids), dtype=np.float32, count=len(ids))
            if not mask.any():
                return [[] for _ in queries]
        k = min(k, len(ids))
        tokens = [tokenize(q) for q in queries]
        docs, scores = model.retrieve(tokens, k=k, show_progress=False, n_threads=1, weight_mask=mask)
        return [[(ids[int(r)], float(s)) for r, s in zip(rows, values, strict=True) if s > 0]
                for rows, values in zip(np.asarray(docs), np.asarray(scores), strict=True)]

    def save(self, path: str | Path) -> None:
        """Write the texts to ``path/lexical.jsonl`` atomically (a header line, then one document a line)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with self._lock:
            items = list(self._texts.items())
        with atomic_open(path / LEXICAL_FILE, "w") as f:
            header = {"format_version": FORMAT_VERSION, "k1": self.k1, "b": self.b, "method": self.method,
                      "count": len(items)}
            f.write(json.dumps(header) + "\n")
            for i, t in items:
                f.write(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> LexicalIndex:
        """Read a folder written by `save`; a damaged file raises `IndexCorruptError` naming it."""
        file = Path(path) / LEXICAL_FILE
        try:
            with file.open(encoding="utf-8") as f:
                header = json.loads(f.readline())
                self = cls(header["k1"], header["b"], header["method"])
                for number, line in enumerate(f, start=2):
                    doc = json.loads(line)
                    if not (isinstance(doc, dict) and isinstance(doc.get("id"), str)
                            and isinstance(doc.get("text"), str)):
                        raise ValueError(f"line {number}: id and text must be strings, got {line.strip()[:80]}")
                    self._texts[doc["id"]] = doc["text"]
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise IndexCorruptError(f"{file}: unreadable lexical index ({e})") from e
        if header.get("format_version") != FORMAT_VERSION or len(self._texts) != header.get("count"):
            raise IndexCorruptError(f"{file}: expected format {FORMAT_VERSION} with {header.get('count')} "
                                    f"documents, found format {header.get('format_version')} with "
                                    f"{len(self._texts)} (truncated or altered)")
        return self
