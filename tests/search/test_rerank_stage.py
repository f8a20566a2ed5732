"""The rerank stage: a first stage's top ``rerank_depth`` re-scored by a reranker, checked against
sentence-transformers' ``CrossEncoder.predict`` on the same candidates."""

from __future__ import annotations

import numpy as np
import pytest

from tests.rerank.tiny import build_cross_encoder
from unret import Code, UnifiedRetriever
from unret.items import Text
from unret.rerank import load_reranker

pytestmark = pytest.mark.usefixtures("one_thread")

DOCS = {
    "paris": Text("Paris is the capital of France."),
    "lyon": Text("Lyon is a large city in France."),
    "add": Code("def add(a, b):\n    return a + b", "python"),
    "nile": Text("The Nile is a long river in Africa."),
    "cats": Text("Cats sleep for most of the day."),
    "csv": Code("def read_rows(path):\n    return list(csv.reader(open(path)))", "python"),
}
QUERY = "the capital city of France"


@pytest.fixture(scope="module")
def cross_encoder_path(tmp_path_factory, minilm_path):
    """A tiny CrossEncoder package (sigmoid, 16 tokens at most)."""
    return build_cross_encoder(tmp_path_factory.mktemp("ce") / "sigmoid", minilm_path, max_length=16)


@pytest.fixture(scope="module")
def r(minilm_path):
    r = UnifiedRetriever.from_pretrained(minilm_path)
    r.add(list(DOCS.values()), ids=list(DOCS), metadata=[{"n": i} for i in range(len(DOCS))])
    return r


def test_reranked_hits_are_the_first_stage_top_n_ordered_by_cross_encoder_predict(r, cross_encoder_path):
    from sentence_transformers import CrossEncoder

    for mode in ("dense", "hybrid"):
        first = r.search(QUERY, k=4, mode=mode, exact=True)
        want = CrossEncoder(str(cross_encoder_path)).predict([(QUERY, DOCS[h.id].text) for h in first])
        order = np.argsort(-want, kind="stable")
        got = r.search(QUERY, k=3, mode=f"{mode}+rerank", rerank=cross_encoder_path, rerank_depth=4, exact=True)
        assert [h.id for h in got] == [first[i].id for i in order[:3]]
        np.testing.assert_allclose([h.score for h in got], want[order[:3]], atol=1e-4)
        assert got[0].metadata == r.index.get(got[0].id)[1]  # hits keep their catalog entries


def test_rerank_argument_filters_and_batches(r, cross_encoder_path):
    reranker = load_reranker(cross_encoder_path)
    plain = r.search([QUERY, "add numbers"], k=2, rerank=reranker, rerank_depth=6, exact=True)
    assert [len(row) for row in plain] == [2, 2]
    one = r.search("add numbers", k=2, rerank=reranker, rerank_depth=6, exact=True)
    assert [(h.id, pytest.approx(h.score, abs=1e-6)) for h in plain[1]] == [(h.id, h.score) for h in one]
    code = r.search("add the rows of a path", k=5, mode="lexical+rerank", rerank=reranker, modality="code")
    assert {h.id for h in code} == {"add", "csv"}  # filters apply in the first stage
    with pytest.raises(ValueError, match="needs a reranker"):
        r.search(QUERY, mode="dense+rerank")
    with pytest.raises(ValueError, match="rerank_depth"):
        r.search(QUERY, rerank=reranker, rerank_depth=0)


def test_images_are_read_from_their_files_and_image_queries_are_kept(tiny_vl, tiny_vl_path, image_files,
                                                                     cross_encoder_path):
    r = UnifiedRetriever(tiny_vl.backbone, tiny_vl.model_ref)
    a, b, _ = image_files
    r.add([a, (b, "a caption"), Text("some text"), Text("other text")], ids=["a", "b", "t1", "t2"])
    vl = load_reranker(tiny_vl_path)
    query = a  # an image query
    hits = r.search(query, k=4, rerank=vl, rerank_depth=4, exact=True)
    docs = {"a": a, "b": (b, "a caption"), "t1": "some text", "t2": "other text"}
    want = dict(zip(docs, vl.score_pairs([query] * 4, list(docs.values())), strict=True))
    assert [h.id for h in hits] == sorted(want, key=lambda i: -want[i])
    np.testing.assert_allclose([h.score for h in hits], [want[h.id] for h in hits], atol=1e-5)

    # a text cross-encoder cannot read images: they follow the scored texts, in first-stage order
    first = r.search("text", k=4, exact=True)
    text_only = r.search("text", k=4, rerank=cross_encoder_path, rerank_depth=4, exact=True)
    scored = [h for h in text_only if h.id in ("t1", "t2")]
    assert [h.id for h in text_only[:2]] == [h.id for h in scored]
    assert [h.id for h in text_only[2:]] == [h.id for h in first if h.id in ("a", "b")]
    assert text_only[2].score < text_only[1].score and text_only[3].score < text_only[2].score
    # …and an image query it cannot read keeps the first stage's ranking
    assert [h.id for h in r.search(a, k=4, rerank=cross_encoder_path, exact=True)] == \
        [h.id for h in r.search(a, k=4, exact=True)]
