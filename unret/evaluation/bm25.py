"""BM25 baseline over BEIR item specs: a `Run`-returning face on the library's lexical index.

The tokenizer and the BM25 index live in `unret.search.bm25` (the same code ranks ``mode="lexical"`` and
``"hybrid"`` searches); this module only maps item specs to text and results to ``{qid: {docid: score}}``.
"""

from __future__ import annotations

from collections.abc import Mapping

from unret.errors import NoIndexError
from unret.evaluation.metrics import Run
from unret.items import ItemSpec, spec_text
from unret.search.bm25 import STOPWORDS, LexicalIndex, tokenize

__all__ = ["BM25", "STOPWORDS", "bm25_run", "corpus_texts", "tokenize"]


class BM25:
    """BM25 over item specs (their text; images without text are empty documents).

    ``BM25().index({"d1": Code("def parse_url(u): ..."), "d2": Text("a cat")}).search({"q": "parse a URL"})``
    returns ``{"q": {"d1": <score>}}``: documents sharing no term with the query are left out.
    """

    def __init__(self, k1: float = 1.5, b: float = 0.75, method: str = "lucene"):
        self.k1, self.b, self.method = k1, b, method
        self.lexical: LexicalIndex | None = None

    def index(self, corpus: Mapping[str, ItemSpec | str]) -> BM25:
        """Tokenize and index the corpus; returns self."""
        if not corpus:
            raise ValueError("cannot index an empty corpus")
        ids, texts = corpus_texts(corpus)
        self.lexical = LexicalIndex(self.k1, self.b, self.method).add(ids, texts)
        return self

    def search(self, queries: Mapping[str, ItemSpec | str], k: int = 100) -> Run:
        """``{qid: {docid: score}}`` with the top ``k`` documents that share a term with the query."""
        if self.lexical is None:
            raise NoIndexError("this BM25 scorer has no corpus yet: index() one before searching")
        qids = list(queries)
        ranked = self.lexical.search([_text(q) for q in queries.values()], k=k)
        return {qid: dict(row) for qid, row in zip(qids, ranked, strict=True)}


def _text(spec: ItemSpec | str) -> str:
    return spec if isinstance(spec, str) else spec_text(spec)


def corpus_texts(corpus: Mapping[str, ItemSpec | str]) -> tuple[list[str], list[str]]:
    """(ids, texts) of a corpus of item specs, as the lexical index reads them."""
    return list(corpus), [_text(spec) for spec in corpus.values()]


def bm25_run(corpus: Mapping[str, ItemSpec | str], queries: Mapping[str, ItemSpec | str], k: int = 100,
             k1: float = 1.5, b: float = 0.75) -> Run:
    """Index ``corpus`` and search ``queries`` with BM25 in one call."""
    return BM25(k1=k1, b=b).index(corpus).search(queries, k=k)
