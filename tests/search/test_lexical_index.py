"""The lexical index: BM25 over id → text, add / replace / remove, filters, atomic save and strict load."""

from __future__ import annotations

import bm25s
import numpy as np
import pytest

from unret.errors import IndexCorruptError
from unret.search.bm25 import LEXICAL_FILE, LexicalIndex, tokenize

DOCS = {
    "url": "def parse_url(url): return url.split('://', 1)",
    "csv": "def readCsvRows(path): return list(reader(open(path)))",
    "cat": "Cats are small domesticated carnivorous mammals.",
    "bike": "A photo of a red bicycle leaning on a wall.",
    "img": "",
}


def _index() -> LexicalIndex:
    return LexicalIndex().add(list(DOCS), list(DOCS.values()))


def test_scores_equal_bm25s_on_the_same_tokens():
    """Independent computation: bm25s directly on our tokens gives the same ranking and scores."""
    lex = _index()
    got = lex.search(["parse a url", "domesticated cats on a red bicycle"], k=5)
    ids = list(DOCS)
    ref = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    ref.index([tokenize(t) for t in DOCS.values()], show_progress=False)
    for query, row in zip(["parse a url", "domesticated cats on a red bicycle"], got, strict=True):
        docs, scores = ref.retrieve([tokenize(query)], k=5, show_progress=False)
        want = [(ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]
        assert [i for i, _ in row] == [i for i, _ in want]
        np.testing.assert_allclose([s for _, s in row], [s for _, s in want], rtol=1e-6)
    assert got[0][0][0] == "url" and {i for i, _ in got[1]} == {"cat", "bike"}


def test_add_replaces_and_remove_forgets():
    lex = _index()
    assert lex.search(["bicycle"], k=3)[0][0][0] == "bike"
    lex.add(["bike"], ["a sailing boat"])  # replace: the old text no longer matches
    assert lex.search(["bicycle"], k=3) == [[]]
    assert lex.search(["sailing"], k=3)[0][0][0] == "bike"
    assert lex.remove(["bike", "never-there"]) == 1
    assert "bike" not in lex and len(lex) == 4
    assert lex.search(["sailing"], k=3) == [[]]


def test_accept_masks_inside_bm25_so_k_hits_survive_a_filter():
    lex = LexicalIndex().add([f"d{i}" for i in range(20)], ["python code"] * 20)
    hits = lex.search(["python"], k=3, accept=lambda i: i in {"d17", "d18", "d19"})[0]
    assert sorted(i for i, _ in hits) == ["d17", "d18", "d19"]
    assert lex.search(["python"], k=3, accept=lambda i: False) == [[]]


def test_empty_and_imageonly_indexes_find_nothing_and_k_is_checked():
    assert LexicalIndex().search(["anything"], k=3) == [[]]
    assert LexicalIndex().add(["a", "b"], ["", ""]).search(["x"], k=3) == [[]]
    with pytest.raises(ValueError, match="k must be"):
        _index().search(["x"], k=0)
    with pytest.raises(ValueError, match="2 ids but 1 texts"):
        LexicalIndex().add(["a", "b"], ["x"])


def test_save_load_round_trip_and_damage_is_named(tmp_path):
    lex = _index()
    lex.save(tmp_path / "lex")
    again = LexicalIndex.load(tmp_path / "lex")
    assert again.ids() == lex.ids() and again.text("csv") == DOCS["csv"]
    assert again.search(["read csv rows"], k=2) == lex.search(["read csv rows"], k=2)
    assert [p.name for p in (tmp_path / "lex").iterdir()] == [LEXICAL_FILE]  # no temp file left behind
    file = tmp_path / "lex" / LEXICAL_FILE
    file.write_text("\n".join(file.read_text().splitlines()[:-1]) + "\n")  # truncated: a document lost
    with pytest.raises(IndexCorruptError, match=r"lexical\.jsonl"):
        LexicalIndex.load(tmp_path / "lex")
    file.write_text("{not json\n")
    with pytest.raises(IndexCorruptError, match="unreadable"):
        LexicalIndex.load(tmp_path / "lex")


@pytest.mark.parametrize("line", ['{"id": "a", "text": 5}', '{"id": 7, "text": "x"}', '["a", "x"]',
                                  '{"id": "a", "text": null}'])
def test_a_document_that_is_not_id_and_text_strings_is_corrupt(tmp_path, line):
    """A number where the text belongs loaded fine before and failed every later search with a TypeError."""
    lex = _index()
    lex.save(tmp_path / "lex")
    file = tmp_path / "lex" / LEXICAL_FILE
    lines = file.read_text().splitlines()
    file.write_text("\n".join([*lines[:-1], line]) + "\n")  # same count, one altered document
    with pytest.raises(IndexCorruptError, match=rf"lexical\.jsonl.*line {len(lines)}"):
        LexicalIndex.load(tmp_path / "lex")
