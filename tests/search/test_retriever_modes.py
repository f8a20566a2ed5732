"""UnifiedRetriever.search(mode=...): the lexical index kept beside the vector index through add, remove,
save and load (and built from the catalog for an index saved without one); evaluate in all three modes."""

from __future__ import annotations

import logging
import shutil

import pytest

from unret import Code, UnifiedRetriever
from unret.evaluation.bm25 import bm25_run
from unret.evaluation.evaluate import evaluate, run_evaluate
from unret.formats import write_beir
from unret.items import Text
from unret.retriever import LEXICAL_DIR
from unret.search import rrf

pytestmark = pytest.mark.usefixtures("one_thread")

DOCS = {
    "url": Code("def parse_url(url):\n    return url.split('://', 1)", "python"),
    "csv": Code("def readCsvRows(path):\n    return list(csv.reader(open(path)))", "python"),
    "paris": Text("Paris is the capital of France."),
    "cats": Text("Cats sleep for most of the day."),
}


@pytest.fixture(scope="module")
def minilm(minilm_path):
    return UnifiedRetriever.from_pretrained(minilm_path)


@pytest.fixture
def r(minilm):
    fresh = UnifiedRetriever(minilm.backbone, minilm.model_ref)
    fresh.add(list(DOCS.values()), ids=list(DOCS), metadata=[{"n": i} for i in range(len(DOCS))])
    return fresh


def test_a_fresh_index_builds_its_lexical_side_without_reading_sources(minilm, caplog):
    fresh = UnifiedRetriever(minilm.backbone, minilm.model_ref)
    with caplog.at_level(logging.WARNING, logger="unret.search.catalog"):
        fresh.add(list(DOCS.values()), ids=list(DOCS))
        fresh.add(Text("one more"), ids="more")
    assert caplog.text == ""  # nothing to recover: every text came with its add
    assert sorted(fresh.lexical.ids()) == sorted([*DOCS, "more"])


def test_lexical_and_hybrid_modes_rank_like_bm25_and_rrf(r):
    query = "read the rows of a csv file"
    lexical = r.search(query, k=4, mode="lexical")
    want = bm25_run(DOCS, {"q": query}, k=4)["q"]
    assert [(h.id, h.score) for h in lexical] == [(i, pytest.approx(s)) for i, s in want.items()]
    assert lexical[0].id == "csv" and lexical[0].metadata == {"n": 1, "language": "python"}
    dense = r.search(query, k=4, exact=True)
    hybrid = r.search(query, k=4, mode="hybrid", exact=True)
    fused = rrf([[h.id for h in dense], [h.id for h in lexical]])
    assert [h.id for h in hybrid] == sorted(fused, key=lambda i: -fused[i])[:4]
    assert [h.score for h in hybrid] == pytest.approx(sorted(fused.values(), reverse=True)[:4])
    code_only = r.search([query, "capital of France"], k=4, mode="hybrid", modality="code")
    assert all(h.modality == "code" for row in code_only for h in row)
    with pytest.raises(ValueError, match="mode must be one of"):
        r.search(query, mode="sparse")


def test_remove_and_replace_reach_the_lexical_index(r):
    assert r.search("parse url", k=1, mode="lexical")[0].id == "url"
    r.remove("url")
    assert all(h.id != "url" for h in r.search("parse url", k=4, mode="lexical"))
    r.add(Text("Berlin is the capital of Germany."), ids="paris")  # re-adding an id replaces its text
    assert r.search("France", k=4, mode="lexical") == []
    assert r.search("Germany", k=1, mode="lexical")[0].id == "paris"


def test_save_load_keeps_the_lexical_index_and_view_mode_searches(r, tmp_path):
    r.save(tmp_path / "ix")
    assert (tmp_path / "ix" / LEXICAL_DIR / "lexical.jsonl").is_file()
    for view in (False, True):
        again = UnifiedRetriever.load(tmp_path / "ix", view=view)
        assert again.lexical is not None and sorted(again.lexical.ids()) == sorted(DOCS)
        for mode in ("lexical", "hybrid"):
            assert ([h.id for h in again.search("csv rows", k=3, mode=mode, exact=True)]
                    == [h.id for h in r.search("csv rows", k=3, mode=mode, exact=True)])


def test_an_index_saved_without_a_lexical_index_builds_it_from_source_files(minilm, tmp_path, caplog):
    src = tmp_path / "src"
    src.mkdir()
    (src / "net.py").write_text("def open_socket(host, port):\n    return connect(host, port)\n")
    (src / "notes.md").write_text("Meeting notes about the quarterly budget.\n")
    r = UnifiedRetriever(minilm.backbone, minilm.model_ref)
    r.add([str(src / "net.py"), str(src / "notes.md"), "an in-memory text about sockets"],
          ids=["net", "notes", "mem"])
    r.save(tmp_path / "ix")
    shutil.rmtree(tmp_path / "ix" / LEXICAL_DIR)  # as saved before lexical search existed
    old = UnifiedRetriever.load(tmp_path / "ix")
    assert old.lexical is None  # built only when lexical search needs it
    with caplog.at_level(logging.WARNING, logger="unret.search.catalog"):
        assert old.search("open socket", k=3, mode="lexical")[0].id == "net"
    assert old.search("quarterly budget", k=1, mode="lexical")[0].id == "notes"
    assert "1 of 3 documents could not be recovered" in caplog.text  # the in-memory text is lost, and said so
    assert [h.id for h in old.search("sockets", k=3)] != []  # dense search is untouched
    old.save(tmp_path / "ix")  # the next save writes the lexical index
    assert UnifiedRetriever.load(tmp_path / "ix").lexical.text("net").startswith("def open_socket")


def test_evaluate_ranks_through_the_same_retrievers(minilm, tmp_path):
    root = tmp_path / "toy"
    queries = {"q1": Text("parse a url"), "q2": Text("capital of France"), "q3": Text("read csv rows")}
    write_beir(root, DOCS, queries, {"test": {"q1": {"url": 1}, "q2": {"paris": 1}, "q3": {"csv": 1}}})
    dense = evaluate(minilm, root, k=4, return_per_query=True)
    lexical = evaluate(minilm, root, k=4, mode="lexical")
    hybrid = evaluate(minilm, root, k=4, mode="hybrid", run_path=tmp_path / "hybrid.run")
    assert lexical["metrics"] == evaluate("bm25", root, k=4)["metrics"]
    assert (dense["mode"], lexical["mode"], hybrid["mode"]) == ("dense", "lexical", "hybrid")
    assert hybrid["model"].endswith("[hybrid]")
    convex = evaluate(minilm, root, k=4, mode="hybrid", fusion="convex", alpha=1.0)
    assert convex["model"].endswith("[hybrid convex α=1]") and convex["metrics"] == dense["metrics"]
    # the hybrid run is RRF of the dense and BM25 runs
    from unret.evaluation.metrics import read_trec_run

    run = read_trec_run(tmp_path / "hybrid.run")
    r = UnifiedRetriever(minilm.backbone, minilm.model_ref)
    r.add(list(DOCS.values()), ids=list(DOCS))
    for qid, q in queries.items():
        fused = rrf([[h.id for h in r.search(q, k=4, exact=True)], [h.id for h in r.search(q, k=4, mode="lexical")]])
        assert run[qid] == pytest.approx(fused)
    results = run_evaluate(["bm25", str(minilm.model_ref["name_or_path"])], [root], k=4,
                           modes=["dense", "lexical", "hybrid"])
    assert [res["mode"] for res in results] == ["lexical", "dense", "lexical", "hybrid"]
