"""unret's CrossEncoder reranker against sentence-transformers' own ``CrossEncoder.predict``."""

from __future__ import annotations

import numpy as np
import pytest

from unret import Code, Text
from unret.errors import ConfigError
from unret.rerank import CrossEncoderReranker, is_reranker, load_reranker, reranker_kind

pytestmark = pytest.mark.usefixtures("one_thread")

PAIRS = [
    ("what is the capital of France", "Paris is the capital and largest city of France."),
    ("function adding two numbers", "def add(a, b):\n    return a + b"),
    ("a long question " * 6, "a long answer that the sixteen-token limit must cut " * 4),
    ("bananas", "Bananas are rich in potassium."),
]


@pytest.mark.parametrize("fixture", ["cross_encoder_path", "identity_cross_encoder_path"])
def test_scores_match_sentence_transformers_predict(fixture, request):
    from sentence_transformers import CrossEncoder

    path = request.getfixturevalue(fixture)
    reranker = load_reranker(path)
    assert isinstance(reranker, CrossEncoderReranker) and reranker_kind(path) == "cross-encoder"
    want = CrossEncoder(str(path)).predict(PAIRS, batch_size=3)
    got = reranker.score_pairs([q for q, _ in PAIRS], [d for _, d in PAIRS], batch_size=2)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_activation_and_max_length_are_read_from_the_package(cross_encoder_path, identity_cross_encoder_path):
    sigmoid, identity = load_reranker(cross_encoder_path), load_reranker(identity_cross_encoder_path)
    assert sigmoid.max_length == 16 and sigmoid.activation.endswith("Sigmoid")
    assert identity.activation.endswith("Identity")
    scores = sigmoid.score_pairs([q for q, _ in PAIRS], [d for _, d in PAIRS])
    assert ((scores > 0) & (scores < 1)).all()
    # truncation: text past the 16th token changes nothing
    long_doc = PAIRS[2][1]
    assert sigmoid("q", [long_doc])[0] == pytest.approx(sigmoid("q", [long_doc + " more words at the end"])[0])


def test_call_scores_one_query_list_and_reads_item_specs(cross_encoder_path):
    reranker = load_reranker(cross_encoder_path)
    docs = [Text("Paris is in France."), Code("def f():\n    pass", "python")]
    one = reranker(Text("where is Paris"), docs)
    pairs = reranker.score_pairs(["where is Paris"] * 2, ["Paris is in France.", "def f():\n    pass"])
    np.testing.assert_allclose(one, pairs, atol=1e-6)


def test_an_image_is_refused_with_its_position_and_a_non_reranker_is_named(cross_encoder_path, minilm_path,
                                                                             image_files):
    reranker = load_reranker(cross_encoder_path)
    with pytest.raises(ValueError, match=r"document #1 is 'image'"):
        reranker.score_pairs(["q", "q"], ["text", image_files[0]])
    assert not is_reranker(minilm_path)
    with pytest.raises(ConfigError, match="not a reranker"):
        load_reranker(minilm_path)
