"""The console entry point."""

from __future__ import annotations

import re

from unret.cli import main
from unret.demo import QUERIES, corpus


def test_demo_prints_a_full_similarity_matrix(capsys):
    assert main(["demo", "--model", "tiny"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if any(line.strip().startswith(q) for q in QUERIES)]
    assert len(rows) == len(QUERIES)
    for row in rows:
        scores = [float(x) for x in re.findall(r"-?\d+\.\d{3}", row)]
        assert len(scores) == len(corpus()) and all(-1.0 <= s <= 1.0 for s in scores)


def test_evaluate_and_datasets_commands(tmp_path, capsys):
    from unret.evaluation.data import write_beir
    from unret.items import Code, Text

    corpus = {"d1": Code("def add(a, b):\n    return a + b", "python"), "d2": Text("rivers flow to the sea")}
    queries = {"q1": Text("add two numbers"), "q2": Text("where do rivers go")}
    write_beir(tmp_path / "beir", corpus, queries, {"test": {"q1": {"d1": 1}, "q2": {"d2": 1}}})
    out = tmp_path / "results.json"
    assert main(["evaluate", "--model", "bm25", "--model", "unret-testing/tiny-qwen2.5-vl", "--data",
                 str(tmp_path / "beir"), "--out", str(out), "--cache-dir", str(tmp_path / "cache")]) == 0
    table = capsys.readouterr().out
    assert "nDCG@10" in table and "bm25" in table and "tiny-qwen2.5-vl" in table
    import json

    results = json.loads(out.read_text())
    assert [r["model"] for r in results] == ["bm25", "unret-testing/tiny-qwen2.5-vl"]
    assert results[0]["metrics"]["nDCG@10"] == 1.0  # BM25 finds both on word overlap
