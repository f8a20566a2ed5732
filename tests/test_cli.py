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
