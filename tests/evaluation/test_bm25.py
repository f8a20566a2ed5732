"""BM25 baseline: identifier-aware tokenizer and a toy corpus where the right answer is obvious."""

from __future__ import annotations

import pytest

from unret import Code, NoIndexError
from unret.evaluation.bm25 import BM25, bm25_run, tokenize
from unret.items import Text


def test_tokenizer_splits_identifiers_and_keeps_them_whole():
    assert tokenize("getHTTPResponse") == ["gethttpresponse", "get", "http", "response"]
    assert tokenize("parse_url") == ["parse_url", "parse", "url"]
    assert tokenize("__init__") == ["init"]
    assert tokenize("The cat is on the mat") == ["cat", "mat"]  # lower-cased, stopwords and 1-letter dropped
    assert tokenize("XMLParser.feed(data)") == ["xmlparser", "xml", "parser", "feed", "data"]
    assert tokenize("straße_café") == ["straße_café", "straße", "café"]


CORPUS = {
    "url": Code("def parse_url(url):\n    scheme, rest = url.split('://', 1)\n    return scheme, rest", "python"),
    "csv": Code("def readCsvRows(path):\n    with open(path) as f:\n        return list(reader(f))", "python"),
    "sum": Code("def total(values):\n    return sum(values)", "python"),
    "cat": Text("Cats are small domesticated carnivorous mammals."),
    "img": Text("A photo of a red bicycle leaning on a wall."),
}


def test_bm25_ranks_the_obvious_document_first():
    run = bm25_run(CORPUS, {
        "q_url": Text("parse a URL into scheme"),
        "q_csv": Text("read the rows of a CSV file"),
        "q_cat": Text("domesticated cats"),
        "q_bike": "red bicycle",
    }, k=3)
    assert max(run["q_url"], key=run["q_url"].get) == "url"
    assert max(run["q_csv"], key=run["q_csv"].get) == "csv"  # only matches through camelCase splitting
    assert max(run["q_cat"], key=run["q_cat"].get) == "cat"
    assert max(run["q_bike"], key=run["q_bike"].get) == "img"
    assert all(len(docs) <= 3 for docs in run.values())


def test_bm25_leaves_out_non_matching_documents_and_caps_k():
    bm25 = BM25().index(CORPUS)
    run = bm25.search({"none": Text("quantum chromodynamics"), "one": Text("bicycle")}, k=1000)
    assert run == {"none": {}, "one": {"img": pytest.approx(run["one"]["img"])}}
    assert run["one"]["img"] > 0


def test_bm25_errors():
    with pytest.raises(NoIndexError, match="no corpus yet"):
        BM25().search({"q": "x"})
    with pytest.raises(ValueError, match="empty corpus"):
        BM25().index({})


def test_a_corpus_without_text_finds_nothing_instead_of_crashing(tmp_path):
    from pathlib import Path

    from unret.evaluation.bm25 import BM25

    run = BM25().index({"d1": Path(tmp_path / "a.png"), "d2": Path(tmp_path / "b.png")}).search({"q": "a cat"})
    assert run == {"q": {}}
