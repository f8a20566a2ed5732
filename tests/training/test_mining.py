"""Hard-negative mining and teacher scoring against independent computations (real MiniLM weights)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.rerank.tiny import build_cross_encoder
from unret import Code, Text, UnifiedRetriever
from unret.formats import RetrievalDataset
from unret.training.data import JsonlDataset
from unret.training.mining import mine, mine_hard_negatives, score_candidates

DOCS = {
    "d0": Text("Paris is the capital and largest city of France."),
    "d1": Text("Berlin is the capital of Germany."),
    "d2": Text("France is a country in Western Europe; its capital is Paris."),
    "d3": Text("The Eiffel Tower is in Paris."),
    "d4": Code("def add(a, b):\n    return a + b", "python"),
    "d5": Text("Madrid is the capital of Spain."),
    "d6": Text("Bananas are rich in potassium."),
}


@pytest.fixture(scope="module")
def cross_encoder_path(tmp_path_factory, minilm_path):
    """A tiny CrossEncoder package (sigmoid, 16 tokens at most)."""
    return build_cross_encoder(tmp_path_factory.mktemp("ce") / "sigmoid", minilm_path, max_length=16)


@pytest.fixture(scope="module")
def setup(minilm_path):
    data = RetrievalDataset(corpus=dict(DOCS), queries={"q0": Text("what is the capital of France"),
                                                        "q1": Text("function adding two numbers")},
                            qrels={"q0": {"d0": 1}, "q1": {"d4": 1}})
    return UnifiedRetriever.from_pretrained(minilm_path), data


def _scores(r, data, qid):
    q = r.encode_queries([data.queries[qid]], convert_to="numpy")[0]
    ids = list(data.corpus)
    d = r.encode_documents([data.corpus[i] for i in ids], convert_to="numpy")
    return dict(zip(ids, (d @ q).tolist(), strict=True))


def test_negatives_are_the_top_ranked_non_positives(setup):
    r, data = setup
    mined = mine_hard_negatives(r, data, num_negatives=3, max_score_ratio=None)
    scores = _scores(r, data, "q0")
    expected = sorted((d for d in scores if d != "d0"), key=lambda d: -scores[d])[:3]
    assert mined["q0"] == expected and "d0" not in mined["q0"]
    assert "d4" not in mined["q1"] and len(mined["q1"]) == 3


def test_likely_false_negatives_are_dropped(setup):
    r, data = setup
    scores = _scores(r, data, "q0")
    ratio = 0.9
    mined = mine_hard_negatives(r, data, num_negatives=6, max_score_ratio=ratio)
    assert all(scores[d] <= ratio * scores["d0"] + 1e-6 for d in mined["q0"])
    dropped = [d for d in scores if d != "d0" and scores[d] > ratio * scores["d0"]]
    assert not set(dropped) & set(mined["q0"])


def test_teacher_scores_are_cosines_and_callables_work(setup):
    r, data = setup
    candidates = {"q0": ["d0", "d2", "d6"]}
    got = score_candidates(r, data, candidates)
    scores = _scores(r, data, "q0")
    np.testing.assert_allclose(got["q0"], [scores[d] for d in candidates["q0"]], atol=1e-5)
    by_length = score_candidates(lambda q, docs: [len(d.text) for d in docs], data, candidates)
    assert by_length["q0"] == [float(len(DOCS[d].text)) for d in candidates["q0"]]


def test_mine_writes_jsonl_that_training_reads(setup, tmp_path):
    r, data = setup
    n = mine(r, data, tmp_path / "distill.jsonl", teacher=r, list_size=4)
    examples = JsonlDataset(tmp_path / "distill.jsonl")
    assert n == 2 and len(examples) == 2
    first = examples[0]
    assert first.positives[0].text == DOCS["d0"].text and len(first.negatives) == 3
    assert len(first.teacher_scores) == 4
    assert examples[1].positives[0].modality == "code"


def test_a_cross_encoder_teacher_scores_like_crossencoder_predict(setup, cross_encoder_path, tmp_path):
    """Listwise distillation from a cross-encoder teacher: the scores are CrossEncoder.predict's, through
    score_candidates, mine and ``unret mine --teacher``."""
    from sentence_transformers import CrossEncoder

    from unret.cli import main
    from unret.formats import write_beir
    from unret.rerank import load_reranker

    r, data = setup
    predict = CrossEncoder(str(cross_encoder_path)).predict
    candidates = {"q0": ["d0", "d2", "d6"], "q1": ["d4", "d1"]}
    got = score_candidates(load_reranker(cross_encoder_path), data, candidates, batch_size=2)
    for qid, docs in candidates.items():
        want = predict([(data.queries[qid].text, DOCS[d].text) for d in docs])
        np.testing.assert_allclose(got[qid], want, atol=1e-4)

    write_beir(tmp_path / "beir", dict(DOCS), dict(data.queries), {"train": data.qrels})
    out = tmp_path / "distill.jsonl"
    assert main(["mine", "--model", str(r.model_ref["name_or_path"]), "--data", str(tmp_path / "beir"),
                 "--out", str(out), "--teacher", str(cross_encoder_path), "--list-size", "4"]) == 0
    for example in JsonlDataset(out):
        docs = [*example.positives, *example.negatives]
        assert len(docs) == 4
        want = predict([(example.query.text, d.text) for d in docs])
        np.testing.assert_allclose(example.teacher_scores, want, atol=1e-4)
