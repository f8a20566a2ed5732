"""BM25 baseline (``bm25s``) with a tokenizer that also reads code identifiers.

A dense retriever is only interesting if it beats lexical matching, so every evaluation table gets a BM25
row. Plain word tokenizers see ``parse_url`` or ``parseURL`` as one rare token that no query contains;
`tokenize` keeps the whole identifier *and* its snake_case / camelCase parts, so "parse a URL"
matches both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import bm25s
import numpy as np

from unret.evaluation.metrics import Run
from unret.items import ItemSpec, spec_text

_CHUNK = re.compile(r"\w+")
# camelCase / PascalCase / ACRONYMWord / digits (identifiers with non-ASCII letters split on "_" only).
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
STOPWORDS: frozenset[str] = frozenset(bm25s.stopwords.STOPWORDS_EN)


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


class BM25:
    """BM25 over item specs (their text; images without text are empty documents).

    ``BM25().index({"d1": Code("def parse_url(u): ..."), "d2": Text("a cat")}).search({"q": "parse a URL"})``
    returns ``{"q": {"d1": <score>}}``: documents sharing no term with the query are left out.
    """

    def __init__(self, k1: float = 1.5, b: float = 0.75, method: str = "lucene"):
        self.k1, self.b, self.method = k1, b, method
        self._ids: list[str] = []
        self._model: bm25s.BM25 | None = None
        self._indexed = False

    def index(self, corpus: Mapping[str, ItemSpec | str]) -> BM25:
        """Tokenize and index the corpus; returns self."""
        if not corpus:
            raise ValueError("cannot index an empty corpus")
        self._ids = list(corpus)
        tokens = [tokenize(_text(spec)) for spec in corpus.values()]
        self._model = None
        if any(tokens):  # bm25s cannot index a corpus without a single word (e.g. images only)
            self._model = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
            self._model.index(tokens, show_progress=False)
        self._indexed = True
        return self

    def search(self, queries: Mapping[str, ItemSpec | str], k: int = 100) -> Run:
        """``{qid: {docid: score}}`` with the top ``k`` documents that share a term with the query."""
        if not self._indexed:
            raise RuntimeError("index() a corpus before searching")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        qids = list(queries)
        if not qids:
            return {}
        if self._model is None:  # no document has text: BM25 finds nothing, honestly
            return {qid: {} for qid in qids}
        k = min(k, len(self._ids))
        tokens = [tokenize(_text(spec)) for spec in queries.values()]
        docs, scores = self._model.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        run: Run = {}
        for qid, rows, values in zip(qids, np.asarray(docs), np.asarray(scores), strict=True):
            run[qid] = {self._ids[int(r)]: float(s) for r, s in zip(rows, values, strict=True) if s > 0}
        return run


def _text(spec: ItemSpec | str) -> str:
    return spec if isinstance(spec, str) else spec_text(spec)


def bm25_run(corpus: Mapping[str, ItemSpec | str], queries: Mapping[str, ItemSpec | str], k: int = 100,
             k1: float = 1.5, b: float = 0.75) -> Run:
    """Index ``corpus`` and search ``queries`` with BM25 in one call."""
    return BM25(k1=k1, b=b).index(corpus).search(queries, k=k)
