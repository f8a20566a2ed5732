"""BEIR loaders: every modality round-trips through the writer; malformed lines fail with file:line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unret import Code
from unret.errors import DataFormatError
from unret.formats import RetrievalDataset, load_beir, write_beir
from unret.items import Text, to_item


def _png(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def beir_dir(tmp_path) -> Path:
    """A valid folder with text, code, image and image+text documents and two splits."""
    root = tmp_path / "toy"
    (root / "images").mkdir(parents=True)
    cat, dog = _png(root / "images" / "cat.png", 1), _png(root / "images" / "dog.png", 2)
    corpus = {
        "t1": Text("The Eiffel Tower is in Paris."),
        "c1": Code("def add(a, b):\n    return a + b", "python"),
        "i1": cat,
        "i2": (dog, "a dog on grass"),
    }
    queries = {"q1": Text("where is the eiffel tower"), "q2": Text("add two numbers"), "q3": Text("a dog")}
    qrels = {"test": {"q1": {"t1": 1}, "q2": {"c1": 2, "t1": 0}}, "dev": {"q3": {"i2": 1}}}
    write_beir(root, corpus, queries, qrels)
    return root


def test_round_trip_every_modality(beir_dir):
    ds = load_beir(beir_dir, "test")
    assert ds.name == "toy" and ds.split == "test"
    assert ds.corpus["t1"] == Text("The Eiffel Tower is in Paris.")
    assert ds.corpus["c1"] == Code("def add(a, b):\n    return a + b", "python")
    assert ds.corpus["i1"] == beir_dir / "images" / "cat.png"
    assert ds.corpus["i2"] == (beir_dir / "images" / "dog.png", "a dog on grass")
    assert ds.qrels == {"q1": {"t1": 1}, "q2": {"c1": 2, "t1": 0}}
    assert set(ds.queries) == {"q1", "q2"}  # only the queries judged in this split
    assert set(load_beir(beir_dir, "dev").queries) == {"q3"}
    modalities = [to_item(spec).modality for spec in ds.corpus.values()]
    assert modalities == ["text", "code", "image", "image+text"]
    rows = [json.loads(line) for line in (beir_dir / "corpus.jsonl").read_text().splitlines()]
    assert rows[2]["image"] == "images/cat.png"  # stored relative to the folder
    assert rows[1]["modality"] == "code" and rows[1]["text"].startswith("def add")  # CoIR layout


def test_beir_and_coir_conventions(tmp_path):
    root = tmp_path / "coir"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"_id": "d1", "title": "Paris", "text": "is the capital of France."},
        {"_id": 2, "title": "", "text": "int main() { return 0; }", "language": "c"},
        {"_id": "d3", "code": "fn main() {}", "language": "rust"},
        {"_id": "d4", "text": "SELECT 1", "modality": "code"},
        {"_id": "d5", "text": "code-looking words", "language": "en", "modality": "text"},
    ]) + "\n\n")
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q", "text": "capital of France"}) + "\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq\td1\t1\nq\t2\t0\n")
    (root / "qrels" / "trec.tsv").write_text("q\t0\td1\t1\n\nq\t0\t2\t0\n")  # TREC columns, no header
    assert load_beir(root, "trec").qrels == {"q": {"d1": 1, "2": 0}}
    ds = load_beir(root)
    assert ds.corpus == {
        "d1": Text("Paris is the capital of France."),  # BEIR joins title and text
        "2": Code("int main() { return 0; }", "c"),
        "d3": Code("fn main() {}", "rust"),
        "d4": Code("SELECT 1", None),
        "d5": Text("code-looking words"),
    }
    assert ds.qrels == {"q": {"d1": 1, "2": 0}}


def test_fingerprint_tracks_ids_and_contents(beir_dir):
    ds = load_beir(beir_dir)
    before = ds.fingerprint()
    same = RetrievalDataset(dict(reversed(list(ds.corpus.items()))), ds.queries, ds.qrels)
    assert same.fingerprint() == ds.fingerprint()  # line order does not matter
    edited = dict(ds.corpus, t1=Text("The Eiffel Tower is in Paris!"))
    assert RetrievalDataset(edited, ds.queries, ds.qrels).fingerprint() != ds.fingerprint()
    renamed = {("T1" if k == "t1" else k): v for k, v in ds.corpus.items()}
    assert RetrievalDataset(renamed, {}, {}).fingerprint() != ds.fingerprint()
    as_text = dict(ds.corpus, c1=Text(ds.corpus["c1"].text))
    assert RetrievalDataset(as_text, ds.queries, ds.qrels).fingerprint() != ds.fingerprint()
    _png(beir_dir / "images" / "cat.png", 99)  # same path, other pixels
    assert load_beir(beir_dir).fingerprint() != before


def _replace_line(path: Path, line: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text + "\n")


MALFORMED = [
    ("corpus.jsonl", 2, '{"_id": "c1", "text": "unterminated', "invalid JSON"),
    ("corpus.jsonl", 1, '{"title": "no id", "text": "x"}', "has no '_id'"),
    ("corpus.jsonl", 1, '{"_id": "t1", "title": "only a title"}', "missing 'text'"),
    ("corpus.jsonl", 1, '{"_id": "t1", "text": "   "}', "empty 'text'"),
    ("corpus.jsonl", 1, '["t1", "a list"]', "expected a JSON object"),
    ("corpus.jsonl", 2, '{"_id": "t1", "text": "again"}', "duplicate document id 't1'"),
    ("corpus.jsonl", 3, '{"_id": "i1", "image": "images/missing.png"}', "image file not found"),
    ("corpus.jsonl", 1, '{"_id": "t1", "text": "x", "modality": "audio"}', "unknown modality 'audio'"),
    ("corpus.jsonl", 1, '{"_id": "t1", "text": 42}', "'text' must be a string"),
    ("queries.jsonl", 2, '{"_id": "q2"}', "missing 'text'"),
    ("queries.jsonl", 1, "not json at all", "invalid JSON"),
    ("qrels/test.tsv", 2, "q1\tt1\tyes", "score must be an integer"),
    ("qrels/test.tsv", 3, "q2\tc1", "expected 3 tab-separated columns"),
    ("qrels/test.tsv", 2, "q1\tnope\t1", "unknown corpus id 'nope'"),
    ("qrels/test.tsv", 3, "ghost\tc1\t1", "unknown query id 'ghost'"),
    ("qrels/test.tsv", 4, "q2\tc1\t1", "conflicting judgement"),
]


@pytest.mark.parametrize(("file", "line", "text", "message"), MALFORMED)
def test_malformed_line_names_file_and_line(beir_dir, file, line, text, message):
    path = beir_dir / file
    if line > len(path.read_text().splitlines()):
        _append(path, text)
    else:
        _replace_line(path, line, text)
    with pytest.raises(DataFormatError, match=re.escape(f"{file.split('/')[-1]}:{line}: ")) as info:
        load_beir(beir_dir, "test")
    assert message in str(info.value)
    assert info.value.line == line and info.value.path == str(path)


def test_missing_files_and_splits(beir_dir):
    with pytest.raises(FileNotFoundError, match=r"no qrels for split 'train'.*\['dev', 'test'\]"):
        load_beir(beir_dir, "train")
    (beir_dir / "queries.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match=r"queries\.jsonl"):
        load_beir(beir_dir)
    with pytest.raises(FileNotFoundError):
        load_beir(beir_dir / "nowhere")


def test_writer_refuses_inconsistent_qrels(tmp_path):
    with pytest.raises(ValueError, match="unknown documents"):
        write_beir(tmp_path, {"d": Text("x")}, {"q": Text("y")}, {"test": {"q": {"other": 1}}})
    with pytest.raises(ValueError, match="not among the queries"):
        write_beir(tmp_path, {"d": Text("x")}, {"q": Text("y")}, {"test": {"ghost": {"d": 1}}})


def test_judged_subset_keeps_only_the_split_documents():
    from unret.formats import RetrievalDataset
    from unret.items import Text

    corpus = {f"d{i}": Text(f"doc {i}") for i in range(6)}
    queries = {f"q{i}": Text(f"query {i}") for i in range(4)}
    qrels = {"q0": {"d0": 1}, "q1": {"d1": 1}, "q2": {"d2": 1, "d3": 0}}  # d4, d5: other splits
    data = RetrievalDataset(corpus=corpus, queries=queries, qrels=qrels, split="train")
    sub = data.judged_subset(max_queries=2, seed=3)
    assert len(sub.queries) == 2 and set(sub.qrels) == set(sub.queries) <= set(qrels)
    assert set(sub.corpus) == {"d0", "d1", "d2", "d3"}  # every judged document, none from elsewhere
    assert sub.judged_subset(seed=3).queries == sub.queries  # no cap: all of them
    assert data.judged_subset(2, seed=3).queries.keys() == sub.queries.keys()  # seeded
