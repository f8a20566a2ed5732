"""``evaluate`` / ``unret evaluate --rerank``: a first-stage row and a reranked row per (model, mode),
the reranked one equal to re-sorting the first stage's top ``rerank_depth`` by ``CrossEncoder.predict``."""

from __future__ import annotations

import json

import pytest

from tests.rerank.tiny import build_cross_encoder
from unret import Code, Text
from unret.cli import main
from unret.evaluation.evaluate import evaluate
from unret.evaluation.metrics import evaluate_run
from unret.formats import load_beir, write_beir

pytestmark = pytest.mark.usefixtures("one_thread")

CORPUS = {
    "paris": Text("Paris is the capital and largest city of France."),
    "berlin": Text("Berlin is the capital of Germany."),
    "add": Code("def add(a, b):\n    return a + b", "python"),
    "cats": Text("Cats sleep for most of the day."),
    "nile": Text("The Nile is a long river."),
}
QUERIES = {"q1": Text("capital of France"), "q2": Text("function adding two numbers"),
           "q3": Text("how long do cats sleep")}
QRELS = {"q1": {"paris": 1}, "q2": {"add": 1}, "q3": {"cats": 1}}


@pytest.fixture(scope="module")
def data(tmp_path_factory, minilm_path):
    root = tmp_path_factory.mktemp("eval")
    write_beir(root / "beir", CORPUS, QUERIES, {"test": QRELS})
    # seed 3: a random cross-encoder that disagrees with MiniLM, so the two rows differ
    return root / "beir", build_cross_encoder(root / "ce", minilm_path, max_length=32, seed=3)


def test_reranked_row_equals_first_stage_resorted_by_crossencoder(data, minilm_path):
    from sentence_transformers import CrossEncoder

    from unret import UnifiedRetriever

    beir, ce = data
    model = UnifiedRetriever.from_pretrained(minilm_path)
    first = evaluate(model, beir, k=3, measures=("nDCG@10", "MRR@10"))
    result = evaluate(model, beir, k=3, measures=("nDCG@10", "MRR@10"), mode="dense+rerank", rerank=ce,
                      rerank_depth=3)
    assert result["mode"] == "dense+rerank" and result["first_stage"]["mode"] == "dense"
    assert result["first_stage"]["metrics"] == pytest.approx(first["metrics"])

    # independent: the first stage's top 3 re-sorted by CrossEncoder.predict
    predict = CrossEncoder(str(ce)).predict
    dataset = load_beir(beir, "test")
    dense = model.encode_documents([CORPUS[d] for d in CORPUS], convert_to="numpy")
    run = {}
    for qid, query in QUERIES.items():
        q = model.encode_queries(query, convert_to="numpy")
        top = sorted(CORPUS, key=lambda d: -float(dense[list(CORPUS).index(d)] @ q))[:3]
        scores = predict([(query.text, CORPUS[d].text) for d in top])
        run[qid] = {d: float(s) for d, s in zip(top, scores, strict=True)}
    want = evaluate_run(dataset.qrels, run, list(result["metrics"]))
    assert result["metrics"] == pytest.approx(want)
    assert result["metrics"] != pytest.approx(first["metrics"])  # this reranker does change the ranking


def test_unret_evaluate_rerank_prints_both_rows(data, minilm_path, tmp_path, capsys):
    beir, ce = data
    out = tmp_path / "results.json"
    assert main(["evaluate", "--model", str(minilm_path), "--data", str(beir), "--no-cache", "--mode", "dense",
                 "--mode", "lexical", "--rerank", str(ce), "--rerank-depth", "4", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["mode"] for r in rows] == ["dense", "dense+rerank", "lexical", "lexical+rerank"]
    table = capsys.readouterr().out
    assert "model + rerank" in table and "[lexical] + rerank" in table
