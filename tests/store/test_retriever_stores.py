"""The retriever on each vector store: dense, lexical and hybrid search with filters, remove, save and reload.

The Milvus-backed retriever must answer exactly as the embedded one does (same ids, scores within 1e-5),
and dense scores must equal the cosine of the retriever's own query and document vectors.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from tests.store.conftest import spec_for
from unret import Code, UnifiedRetriever

pytestmark = pytest.mark.skipif("store" not in inspect.signature(UnifiedRetriever.__init__).parameters,
                                reason="UnifiedRetriever(store=...) lands with the DocumentStore work")

DOCS = {
    "url": ("parse a url into scheme host and path", {"lang": "py", "n": 1}),
    "sort": ("sort a list of numbers in place", {"lang": "js", "n": True}),
    "file": (Code("def read_lines(path):\n    return open(path).read().splitlines()"), {"lang": "py", "n": 1.0}),
    "mean": ("compute the mean of a list of values", {"lang": "go", "n": "1"}),
    "http": ("retry an http request with backoff", {"lang": "py"}),
    "json": (Code("function parseJson(text) { return JSON.parse(text) }"), {"lang": "js", "n": [1]}),
}
QUERIES = ["parse a url", "read lines from a file"]
FILTERS = [{}, {"where": {"lang": "py"}}, {"where": {"n": 1}}, {"where": {"n": True}},
           {"modality": "code"}, {"modality": "text", "where": lambda m: m.get("lang") != "js"}]


def build(tiny_text_path, spec):
    r = UnifiedRetriever.from_pretrained(tiny_text_path, prompts="oneword", store=spec)
    r.add([t for t, _ in DOCS.values()], ids=list(DOCS), metadata=[m for _, m in DOCS.values()])
    return r


def answers(r):
    return {(q, mode, i): [(h.id, round(h.score, 5), h.metadata) for h in r.search(q, k=4, mode=mode, **f)]
            for q in QUERIES for mode in ("dense", "lexical", "hybrid") for i, f in enumerate(FILTERS)}


@pytest.fixture
def pair(tiny_text_path, tmp_path):
    pytest.importorskip("milvus_lite", reason="milvus-lite has no wheel for this platform")
    embedded = build(tiny_text_path, None)
    milvus = build(tiny_text_path, spec_for("milvus", tmp_path, "retriever"))
    yield embedded, milvus
    milvus.store.vectors.close()


def test_every_mode_and_filter_answers_as_the_embedded_store(pair):
    embedded, milvus = pair
    assert type(milvus.store.vectors).__name__ == "MilvusStore"
    want = answers(embedded)
    assert any(want.values()) and answers(milvus) == want


def test_dense_scores_are_the_cosines_of_the_retrievers_vectors(pair):
    _, milvus = pair
    q = np.asarray(milvus.encode_queries(QUERIES[:1]), np.float32)[0]
    d = np.asarray(milvus.encode_documents([t for t, _ in DOCS.values()]), np.float32)
    s = d @ q / np.linalg.norm(d, axis=1) / np.linalg.norm(q)
    hits = milvus.search(QUERIES[0], k=len(DOCS), mode="dense")
    assert [h.id for h in hits] == [list(DOCS)[j] for j in np.argsort(-s)]
    np.testing.assert_allclose([h.score for h in hits], np.sort(s)[::-1], atol=1e-5)


def test_remove_save_and_reload_keep_both_sides_in_step(pair, tmp_path):
    embedded, milvus = pair
    for r in pair:
        r.remove(["sort"])
    embedded.save(tmp_path / "embedded")
    milvus.save(tmp_path / "milvus")
    again = UnifiedRetriever.load(tmp_path / "milvus")
    try:
        assert type(again.store.vectors).__name__ == "MilvusStore"
        want = answers(UnifiedRetriever.load(tmp_path / "embedded"))
        assert answers(again) == want
        assert all(h[0] != "sort" for hits in want.values() for h in hits)
    finally:
        again.store.vectors.close()
