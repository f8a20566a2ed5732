"""Metrics against values computed by hand from the formulas, and TREC run files."""

from __future__ import annotations

import math

import pytest

from unret.evaluation.metrics import evaluate_run, per_query, read_trec_run, write_trec_run

# q1: relevant d1 (1), d2 (2), d5 (1); retrieved d3, d1, d4, d2 (d5 missed).
# q2: relevant d4, retrieved at rank 12 (below the @10 cut-off).
# q3: relevant d2, not answered by the run at all -> every measure 0.
# q4: judged, but nothing relevant -> left out of the means.
# q5: in the run, not in the qrels -> ignored.
QRELS = {
    "q1": {"d1": 1, "d2": 2, "d5": 1, "d9": 0},
    "q2": {"d4": 1},
    "q3": {"d2": 1},
    "q4": {"d1": 0},
}
RUN = {
    "q1": {"d3": 0.9, "d1": 0.8, "d4": 0.7, "d2": 0.6},
    "q2": {**{f"x{i:02d}": 1.0 - i / 100 for i in range(11)}, "d4": 0.5},
    "q4": {"d1": 1.0},
    "q5": {"d1": 1.0},
}


def dcg(gains: list[float]) -> float:
    """DCG with linear gains, as trec_eval: sum of gain_i / log2(i + 1) over ranks i = 1, 2, ..."""
    return sum(g / math.log2(i + 1) for i, g in enumerate(gains, start=1))


def hand_q1() -> dict[str, float]:
    ranked_gains = [0, 1, 0, 2]  # d3, d1, d4, d2
    ideal = [2, 1, 1]  # every judged relevant document, best first
    return {
        "nDCG@10": dcg(ranked_gains) / dcg(ideal),
        "Recall@10": 2 / 3,
        "Recall@100": 2 / 3,
        "MRR@10": 1 / 2,  # first relevant at rank 2
        "MAP": (1 / 2 + 2 / 4) / 3,  # precision at each relevant hit, over all 3 relevant documents
    }


def hand_q2() -> dict[str, float]:
    return {"nDCG@10": 0.0, "Recall@10": 0.0, "Recall@100": 1.0, "MRR@10": 0.0, "MAP": 1 / 12}


def test_per_query_matches_hand_computed_values():
    values = per_query(QRELS, RUN)
    assert set(values) == {"q1", "q2", "q3"}
    assert values["q1"] == pytest.approx(hand_q1(), abs=1e-12)
    assert values["q2"] == pytest.approx(hand_q2(), abs=1e-12)
    assert values["q3"] == dict.fromkeys(hand_q1(), 0.0)


def test_mean_is_over_queries_with_a_relevant_judgement():
    q1, q2 = hand_q1(), hand_q2()
    expected = {m: (q1[m] + q2[m] + 0.0) / 3 for m in q1}
    assert evaluate_run(QRELS, RUN) == pytest.approx(expected, abs=1e-12)
    # spot-check one number written out in full
    ndcg_q1 = (1 / math.log2(3) + 2 / math.log2(5)) / (2 + 1 / math.log2(3) + 1 / 2)
    assert evaluate_run(QRELS, RUN)["nDCG@10"] == pytest.approx(ndcg_q1 / 3, abs=1e-12)


def test_graded_relevance_changes_ndcg_but_not_recall():
    flat = {"q1": {d: min(s, 1) for d, s in QRELS["q1"].items()}}
    graded = {"q1": QRELS["q1"]}
    run = {"q1": RUN["q1"]}
    assert evaluate_run(flat, run)["Recall@10"] == evaluate_run(graded, run)["Recall@10"]
    assert evaluate_run(flat, run)["nDCG@10"] == pytest.approx(dcg([0, 1, 0, 1]) / dcg([1, 1, 1]))


def test_perfect_run_scores_one():
    run = {"q1": {"d2": 3.0, "d1": 2.0, "d5": 1.0}}
    assert evaluate_run({"q1": QRELS["q1"]}, run) == pytest.approx(dict.fromkeys(hand_q1(), 1.0))


def test_ties_are_broken_by_document_id_ascending_for_every_measure():
    """trec_eval (nDCG) and the MS MARCO script (MRR@10) break ties in opposite orders; unret fixes one."""
    qrels = {"q": {"a": 1}}
    first = evaluate_run(qrels, {"q": {"b": 1.0, "a": 1.0}})
    assert first["MRR@10"] == first["nDCG@10"] == first["MAP"] == 1.0
    second = evaluate_run(qrels, {"q": {"a": 1.0, "0": 1.0}})
    assert second["MRR@10"] == second["MAP"] == 0.5
    assert second["nDCG@10"] == pytest.approx(1 / math.log2(3))


def test_mrr_at_10_applies_its_cutoff_alongside_other_measures():
    """ir_measures' pytrec_eval provider ignores the @10 of RR@10 when called directly; we must not."""
    run = {"q2": RUN["q2"]}
    assert evaluate_run({"q2": QRELS["q2"]}, run)["MRR@10"] == 0.0
    assert evaluate_run({"q2": QRELS["q2"]}, run, measures=["RR"])["RR"] == pytest.approx(1 / 12)


def test_other_ir_measures_names_and_bad_names():
    values = evaluate_run({"q1": QRELS["q1"]}, {"q1": RUN["q1"]}, measures=["P@4", "nDCG@10"])
    assert values["P@4"] == pytest.approx(2 / 4)
    with pytest.raises(ValueError, match="unknown measure"):
        evaluate_run(QRELS, RUN, measures=["NotAMeasure@3"])


def test_rejects_nan_scores_and_empty_qrels():
    with pytest.raises(ValueError, match="finite"):
        evaluate_run(QRELS, {"q1": {"d1": float("nan")}})
    with pytest.raises(ValueError, match="no query has a relevant"):
        evaluate_run({"q4": {"d1": 0}}, RUN)


def test_trec_run_round_trip(tmp_path):
    path = write_trec_run(RUN, tmp_path / "runs" / "a.run", tag="tiny-model")
    lines = path.read_text().splitlines()
    assert lines[0].split() == ["q1", "Q0", "d3", "1", "0.9", "tiny-model"]
    assert [line.split()[3] for line in lines if line.startswith("q2 ")] == [str(i) for i in range(1, 13)]
    assert read_trec_run(path) == RUN
    assert evaluate_run(QRELS, read_trec_run(path)) == evaluate_run(QRELS, RUN)


def test_trec_run_top_k_and_bad_input(tmp_path):
    path = write_trec_run(RUN, tmp_path / "top2.run", k=2)
    assert read_trec_run(path)["q2"] == {"x00": 1.0, "x01": 0.99}
    with pytest.raises(ValueError, match="whitespace"):
        write_trec_run({"q 1": {"d": 1.0}}, tmp_path / "bad.run")
    bad = tmp_path / "bad.run"
    bad.write_text("q1 Q0 d1 1 0.5 tag\nq1 Q0 d2 two 0.4 tag\n")
    with pytest.raises(ValueError, match=r"bad\.run:2"):
        read_trec_run(bad)
    bad.write_text("q1 Q0 d1 1 0.5\n")
    with pytest.raises(ValueError, match=r"bad\.run:1: expected 6 fields"):
        read_trec_run(bad)
