"""The search-mode registry: a mode registered in one file reaches the library, the server's schema and
``/info``, ``unret search --mode`` and ``unret evaluate --mode``; ``+rerank`` composes with any mode."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
from pydantic import ValidationError

from unret import UnifiedRetriever
from unret.cli import main
from unret.formats import write_beir
from unret.items import Text
from unret.search import modes, registry

pytestmark = pytest.mark.usefixtures("one_thread")

DOCS = {f"d{i}": Text(t) for i, t in enumerate([
    "Paris is the capital of France.", "Cats sleep for most of the day.", "def add(a, b): return a + b",
    "The Nile is a long river in Africa.", "Bananas are yellow fruit."])}
QUERY = "which city is the capital of France"


@pytest.fixture
def farthest():
    from tests.search import toy_mode

    if "farthest" not in modes():
        importlib.reload(toy_mode)
    yield "farthest"
    registry.unregister_mode("farthest")


@pytest.fixture(scope="module")
def saved(minilm_path, tmp_path_factory):
    r = UnifiedRetriever.from_pretrained(minilm_path)
    r.add(list(DOCS.values()), ids=list(DOCS))
    folder = tmp_path_factory.mktemp("ix") / "index"
    r.save(folder)
    return r, folder


def _least_similar_first(r) -> list[str]:
    q = r.encode_queries(QUERY, convert_to="numpy")
    d = r.encode_documents(list(DOCS.values()), convert_to="numpy")
    return [list(DOCS)[i] for i in np.argsort(d @ q, kind="stable")]


def test_the_builtin_modes_are_registered_and_unknown_ones_are_named():
    assert modes()[:3] == ("dense", "lexical", "hybrid")
    import unret.search

    assert modes() == unret.search.MODES
    assert registry.split_mode("hybrid+rerank") == ("hybrid", True)
    with pytest.raises(ValueError, match=r"mode must be one of .*'dense'.* got 'nope\+rerank'"):
        registry.check_mode("nope+rerank")
    with pytest.raises(ValueError, match="letters, digits"):
        registry.register_mode("a b", lambda c: None, "x")
    with pytest.raises(ValueError, match="needs must be among"):
        registry.register_mode("x", lambda c: None, "x", needs=("gpu",))


def test_a_registered_mode_reaches_search_the_schema_and_info(farthest, saved):
    from fastapi.testclient import TestClient

    from unret.serve.app import create_app
    from unret.serve.schemas import SearchRequest
    from unret.serve.service import SearchService

    r, _ = saved
    want = _least_similar_first(r)
    assert [h.id for h in r.search(QUERY, k=5, mode=farthest, exact=True)] == want
    assert farthest in modes() and SearchRequest(query="x", mode=farthest).mode == farthest
    with pytest.raises(ValidationError, match="mode"):
        SearchRequest(query="x", mode="nope")

    client = TestClient(create_app(SearchService(r, None)))
    assert farthest in client.get("/info").json()["modes"]
    got = client.post("/search", json={"query": QUERY, "k": 5, "mode": farthest, "exact": True})
    assert [h["id"] for h in got.json()["results"][0]] == want
    bad = client.post("/search", json={"query": QUERY, "mode": "nope"})
    assert bad.status_code == 422 and "mode" in bad.json()["error"]["message"]
    needs_reranker = client.post("/search", json={"query": QUERY, "mode": "dense+rerank"})
    assert needs_reranker.status_code == 400 and "needs a reranker" in needs_reranker.json()["error"]["message"]


def test_a_registered_mode_reaches_unret_search_and_evaluate(farthest, saved, minilm_path, tmp_path, capsys):
    r, folder = saved
    assert main(["search", str(folder), QUERY, "-k", "5", "--exact", "--json", "--mode", farthest]) == 0
    assert [h["id"] for h in json.loads(capsys.readouterr().out)] == _least_similar_first(r)

    write_beir(tmp_path / "beir", dict(DOCS), {"q": Text(QUERY)}, {"test": {"q": {"d0": 1}}})
    out = tmp_path / "results.json"
    assert main(["evaluate", "--model", str(minilm_path), "--data", str(tmp_path / "beir"), "--no-cache",
                 "--mode", "dense", "--mode", farthest, "--out", str(out)]) == 0
    rows = {row["mode"]: row for row in json.loads(out.read_text())}
    assert rows["dense"]["metrics"]["MRR@10"] == 1.0  # the capital of France comes first…
    assert rows[farthest]["metrics"]["MRR@10"] == pytest.approx(1 / 5)  # …and last when farthest
    assert f"[{farthest}]" in capsys.readouterr().out


def test_an_unknown_mode_on_the_command_line_lists_the_registered_ones(saved, capsys):
    _, folder = saved
    with pytest.raises(SystemExit) as exit_info:
        main(["search", str(folder), QUERY, "--mode", "nope"])
    assert exit_info.value.code == 2 and "'dense', 'lexical', 'hybrid'" in capsys.readouterr().err
    assert main(["search", str(folder), QUERY, "--mode", "dense+rerank"]) == 2
    assert "needs --rerank" in capsys.readouterr().err
