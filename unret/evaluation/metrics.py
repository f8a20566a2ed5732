"""Ranking metrics through ``ir-measures`` (trec_eval via ``pytrec-eval-terrier``), and TREC run files.

Published BEIR / CoIR / MTEB numbers come from trec_eval, so unret computes them with the same tools
rather than re-implementing them; the tests check the values against formulas written out by hand.

* nDCG, Recall and MAP come from trec_eval: nDCG with linear gains (``rel / log2(rank + 1)``) against the
  ideal ranking of every judged document; MAP (``map``) over the retrieved list, so with a run cut at
  ``k`` it is MAP@k.
* MRR@10 comes from ir-measures' MS MARCO provider: trec_eval's ``recip_rank`` has no cut-off, and asking
  the pytrec_eval provider for ``RR@10`` directly silently ignores the ``@10`` (found by the tests).
* Ties: trec_eval orders equal scores by document id *descending*, the MS MARCO script *ascending*, so
  the same run could score differently per measure. Each query's ranking is therefore made strict first:
  score descending, then document id ascending, the order `write_trec_run` writes.

Means are taken over the queries with at least one relevant judgement (score > 0): a query the system
did not answer counts 0, a query nobody could answer (no relevant document) is left out.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import ir_measures

from unret.atomic import atomic_open

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]

# Display name → ir_measures measure. Other ir_measures names ("P@5", "nDCG@20", "Judged@10") work too.
ALIASES: dict[str, str] = {
    "nDCG@10": "nDCG@10",
    "Recall@10": "R@10",
    "Recall@100": "R@100",
    "MRR@10": "RR@10",
    "MAP": "AP",
}
DEFAULT_MEASURES: tuple[str, ...] = tuple(ALIASES)


def _parse(names: Sequence[str]) -> dict[str, ir_measures.Measure]:
    parsed = {}
    for name in names:
        try:
            parsed[name] = ir_measures.parse_measure(ALIASES.get(name, name))
        except (ValueError, NameError, SyntaxError) as e:
            raise ValueError(f"unknown measure {name!r} (try one of {list(ALIASES)} or an ir_measures name)") from e
    return parsed


def _check_run(run: Mapping[str, Mapping[str, float]]) -> None:
    for qid, docs in run.items():
        for docid, score in docs.items():
            if not math.isfinite(float(score)):
                raise ValueError(f"run score for ({qid!r}, {docid!r}) is {score}; scores must be finite")


def _ranked(docs: Mapping[str, float]) -> list[tuple[str, float]]:
    """Best first: score descending, ties by document id ascending."""
    return sorted(docs.items(), key=lambda kv: (-float(kv[1]), kv[0]))


def _strict(docs: Mapping[str, float]) -> dict[str, float]:
    """Scores replaced by ``n - rank``: the same ranking, with no ties left for an evaluator to break."""
    ranked = _ranked(docs)
    return {docid: float(len(ranked) - i) for i, (docid, _) in enumerate(ranked)}


def per_query(qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]],
              measures: Sequence[str] = DEFAULT_MEASURES) -> dict[str, dict[str, float]]:
    """``{qid: {measure: value}}`` for every query with a relevant judgement (unanswered ones get 0)."""
    _check_run(run)
    parsed = _parse(measures)
    by_measure = {m: name for name, m in parsed.items()}
    evaluated = {qid: {d: int(s) for d, s in judged.items()} for qid, judged in qrels.items()
                 if any(s > 0 for s in judged.values())}
    out = {qid: dict.fromkeys(parsed, 0.0) for qid in evaluated}
    answered = {qid: _strict(run[qid]) for qid in evaluated if run.get(qid)}
    if answered:
        for metric in ir_measures.iter_calc(list(parsed.values()), evaluated, answered):
            out[metric.query_id][by_measure[metric.measure]] = float(metric.value)
    return out


def evaluate_run(qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]],
                 measures: Sequence[str] = DEFAULT_MEASURES) -> dict[str, float]:
    """Mean of each measure over the queries with a relevant judgement (see the module docstring)."""
    values = per_query(qrels, run, measures)
    if not values:
        raise ValueError("no query has a relevant judgement (score > 0); nothing to evaluate")
    return {name: sum(v[name] for v in values.values()) / len(values) for name in measures}


# ---------------------------------------------------------------------------------------------- TREC runs


def write_trec_run(run: Mapping[str, Mapping[str, float]], path: str | os.PathLike, tag: str = "unret",
                   k: int | None = None) -> Path:
    """Write ``qid Q0 docid rank score tag`` lines, best first per query (top ``k`` if given)."""
    path = Path(path)
    if any(c.isspace() for c in tag) or not tag:
        raise ValueError(f"run tag must be one non-empty word, got {tag!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w") as f:
        for qid, docs in run.items():
            ranked = _ranked(docs)[:k]
            for rank, (docid, score) in enumerate(ranked, start=1):
                for name, value in (("query id", qid), ("document id", docid)):
                    if not value or any(c.isspace() for c in value):
                        raise ValueError(f"{name} {value!r} is empty or has whitespace; a TREC run cannot hold it")
                f.write(f"{qid} Q0 {docid} {rank} {float(score)!r} {tag}\n")
    return path


def read_trec_run(path: str | os.PathLike) -> Run:
    """Read a TREC run file into ``{qid: {docid: score}}``; a malformed line raises ``path:line: …``."""
    path = Path(path)
    run: Run = {}
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 6:
                raise ValueError(f"{path}:{n}: expected 6 fields (qid Q0 docid rank score tag), got {len(parts)}")
            qid, _, docid, rank, score, _ = parts
            try:
                int(rank)
                value = float(score)
            except ValueError:
                raise ValueError(f"{path}:{n}: rank must be an integer and score a number: {line.strip()!r}") from None
            docs = run.setdefault(qid, {})
            if docid in docs:
                raise ValueError(f"{path}:{n}: document {docid!r} listed twice for query {qid!r}")
            docs[docid] = value
    return run
