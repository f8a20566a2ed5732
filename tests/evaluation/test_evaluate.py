"""End-to-end evaluation with the tiny Qwen2.5-VL checkpoint (and real MiniLM weights), and its cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from unret import Code
from unret.evaluation.evaluate import evaluate, format_table, run_evaluate
from unret.evaluation.metrics import DEFAULT_MEASURES, evaluate_run, read_trec_run
from unret.formats import load_beir, write_beir
from unret.items import Text

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def toy_dir(tmp_path):
    root = tmp_path / "toy"
    root.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)).save(root / "noise.png")
    corpus = {
        "paris": Text("Paris is the capital and largest city of France."),
        "add": Code("def add(a, b):\n    return a + b", "python"),
        "sort": Code("def sort_desc(xs):\n    return sorted(xs, reverse=True)", "python"),
        "noise": root / "noise.png",
        "berlin": Text("Berlin is the capital of Germany."),
        "cats": Text("Cats sleep for most of the day."),
    }
    queries = {
        "q1": Text("capital of France"),
        "q2": Text("function adding two numbers"),
        "q3": Text("sort a list in reverse order"),
        "q4": Text("how long do cats sleep"),
    }
    qrels = {"test": {"q1": {"paris": 1}, "q2": {"add": 1}, "q3": {"sort": 2, "add": 0}, "q4": {"cats": 1}}}
    write_beir(root, corpus, queries, qrels)
    return root


class Counter:
    """Counts corpus-sized encode_documents calls on a retriever (the probe fingerprint is one string)."""

    def __init__(self, retriever, monkeypatch):
        self.batches: list[int] = []
        original = retriever.encode_documents

        def counted(inputs, **kwargs):
            if isinstance(inputs, list):
                self.batches.append(len(inputs))
            return original(inputs, **kwargs)

        monkeypatch.setattr(retriever, "encode_documents", counted)


def test_end_to_end_with_tiny_qwen(tiny_vl, toy_dir, tmp_path):
    result = evaluate(tiny_vl, toy_dir, "test", k=100, batch_size=4, run_path=tmp_path / "tiny.run",
                      return_per_query=True)
    assert set(result["metrics"]) == set(DEFAULT_MEASURES)
    assert all(0.0 <= v <= 1.0 for v in result["metrics"].values())
    assert result["num_queries"] == 4 and result["num_docs"] == 6 and result["cache"] == "off"
    assert {"encode_corpus_s", "encode_queries_s", "search_s", "total_s"} <= set(result["timings"])
    # Every query retrieves the whole (6-document) corpus, so Recall@100 is 1 whatever the random model.
    assert result["metrics"]["Recall@100"] == 1.0
    # The written run is the run that was scored, ranked by the model's own cosine similarities.
    run = read_trec_run(tmp_path / "tiny.run")
    ds = load_beir(toy_dir)
    assert evaluate_run(ds.qrels, run) == pytest.approx(result["metrics"])
    qids, dids = list(ds.queries), list(ds.corpus)
    q = tiny_vl.encode_queries([ds.queries[i] for i in qids], convert_to="numpy")
    d = tiny_vl.encode_documents([ds.corpus[i] for i in dids], convert_to="numpy")
    for qi, qid in enumerate(qids):
        expected = [dids[j] for j in np.argsort(-(q[qi] @ d.T), kind="stable")]
        got = sorted(run[qid], key=run[qid].get, reverse=True)
        assert got == expected
        assert run[qid][got[0]] == pytest.approx(float(q[qi] @ d[dids.index(got[0])]), abs=1e-5)
    assert set(result["per_query"]) == {"q1", "q2", "q3", "q4"}


def test_hnsw_search_agrees_with_exact(tiny_vl, toy_dir):
    with pytest.warns(UserWarning, match="@100 only see the top 3"):
        exact = evaluate(tiny_vl, toy_dir, k=3)
        approx = evaluate(tiny_vl, toy_dir, k=3, exact=False)
    assert approx["exact"] is False
    assert approx["metrics"] == pytest.approx(exact["metrics"], abs=1e-6)


def test_corpus_cache_is_reused_and_invalidated(tiny_vl, toy_dir, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    calls = Counter(tiny_vl, monkeypatch)
    first = evaluate(tiny_vl, toy_dir, cache_dir=cache, batch_size=4)
    assert first["cache"] == "miss" and calls.batches == [6]
    second = evaluate(tiny_vl, toy_dir, cache_dir=cache, batch_size=2)
    assert second["cache"] == "hit" and calls.batches == [6]  # not encoded again
    assert second["metrics"] == first["metrics"]
    assert len(list(cache.glob("*.npy"))) == 1

    # Change one document: the corpus fingerprint changes, so the corpus is encoded again.
    lines = (toy_dir / "corpus.jsonl").read_text().splitlines()
    row = json.loads(lines[4])
    assert row["_id"] == "berlin"
    lines[4] = json.dumps({**row, "text": "Berlin is the capital and largest city of Germany."})
    (toy_dir / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    third = evaluate(tiny_vl, toy_dir, cache_dir=cache)
    assert third["cache"] == "miss" and calls.batches == [6, 6]
    assert evaluate(tiny_vl, toy_dir, cache_dir=cache)["cache"] == "hit" and calls.batches == [6, 6]
    assert len(list(cache.glob("*.npy"))) == 2

    # Another model (here: the same weights truncated to 32 dims) never reads the first model's vectors.
    monkeypatch.setattr(tiny_vl, "truncate_dim", 32)
    assert evaluate(tiny_vl, toy_dir, cache_dir=cache)["cache"] == "miss" and calls.batches == [6, 6, 6]


def test_corrupt_cache_is_ignored(tiny_vl, toy_dir, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = evaluate(tiny_vl, toy_dir, cache_dir=cache)
    (npy,) = cache.glob("*.npy")
    npy.write_bytes(b"garbage")
    calls = Counter(tiny_vl, monkeypatch)
    again = evaluate(tiny_vl, toy_dir, cache_dir=cache)
    assert again["cache"] == "miss" and calls.batches == [6]
    assert again["metrics"] == first["metrics"]


def test_bm25_by_name_and_split_mismatch(toy_dir):
    result = evaluate("bm25", toy_dir, return_per_query=True)
    assert result["model"] == "bm25"
    # "function adding two numbers" shares no word with "def add(a, b)" (no stemming): only q2 is missed.
    assert {q: v["MRR@10"] for q, v in result["per_query"].items()} == {"q1": 1.0, "q2": 0.0, "q3": 1.0, "q4": 1.0}
    assert result["metrics"]["MRR@10"] == 0.75
    with pytest.raises(ValueError, match="split 'test', not 'dev'"):
        evaluate("bm25", load_beir(toy_dir, "test"), split="dev")


def test_minilm_real_weights_solve_the_toy_set(minilm_path, toy_dir):
    text_only = toy_dir.parent / "text-only"
    ds = load_beir(toy_dir)
    corpus = {k: v for k, v in ds.corpus.items() if k != "noise"}  # MiniLM reads no images
    write_beir(text_only, corpus, ds.queries, {"test": ds.qrels})
    (result,) = run_evaluate([str(minilm_path)], [text_only], out_json=toy_dir.parent / "out.json")
    assert result["metrics"]["MRR@10"] == 1.0 and result["metrics"]["nDCG@10"] == 1.0


def test_run_evaluate_writes_json_and_table(tiny_vl_path, toy_dir, tmp_path):
    out = tmp_path / "results.json"
    results = run_evaluate(["bm25", str(tiny_vl_path)], [toy_dir], out_json=out, cache_dir=tmp_path / "c")
    assert [r["model"] for r in results] == ["bm25", str(tiny_vl_path)]
    assert json.loads(out.read_text()) == results
    assert results[1]["timings"]["load_model_s"] > 0
    table = format_table(results)
    lines = table.splitlines()
    assert len(lines) == 4 and lines[0].startswith("| model")
    assert lines[3].startswith(f"| …/{tiny_vl_path.parent.name}/{tiny_vl_path.name} ")  # long paths shortened
    assert all(m in lines[0] for m in DEFAULT_MEASURES)
    assert f"{results[0]['metrics']['nDCG@10']:.4f}" in lines[2]
    assert len({len(line) for line in lines}) == 1  # aligned columns
    with pytest.raises(ValueError, match="at least one"):
        run_evaluate([], [toy_dir])
