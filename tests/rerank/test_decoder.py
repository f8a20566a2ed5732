"""The Qwen yes/no reranker against an independent computation with plain transformers (tiny checkpoints)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unret import Text
from unret.rerank import DecoderReranker, load_reranker, reranker_kind
from unret.rerank.decoder import DEFAULT_INSTRUCTION

pytestmark = pytest.mark.usefixtures("one_thread")

QUERIES = ["what is the capital of France", "add two numbers", "bananas", "cats"]
DOCS = ["Paris is the capital and largest city of France.", "def add(a, b):\n    return a + b",
        "Bananas are rich in potassium, and yellow.", "Cats sleep."]

# Qwen3-Reranker model card (Qwen/Qwen3-Reranker-0.6B), written out here independently of unret.rerank.decoder
CARD_PREFIX = ("<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the "
               "Instruct provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n")
CARD_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"


def card_score(model, tokenizer, query: str, doc: str) -> float:
    """One unpadded pair, the model card's way: full LM logits of the last token, softmax over (no, yes)."""
    middle = f"<Instruct>: {DEFAULT_INSTRUCTION}\n<Query>: {query}\n<Document>: {doc}"
    ids = [tokenizer(part, add_special_tokens=False)["input_ids"] for part in (CARD_PREFIX, middle, CARD_SUFFIX)]
    with torch.no_grad():
        logits = model(torch.tensor([[t for part in ids for t in part]])).logits[0, -1]
    no, yes = tokenizer.convert_tokens_to_ids("no"), tokenizer.convert_tokens_to_ids("yes")
    return torch.softmax(logits[[no, yes]].float(), dim=0)[1].item()


@pytest.fixture(scope="module")
def text_reranker(tiny_text_path):
    return load_reranker(tiny_text_path)


def test_text_scores_equal_the_model_card_computation(text_reranker, tiny_text_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert isinstance(text_reranker, DecoderReranker) and reranker_kind(tiny_text_path) == "decoder"
    model = AutoModelForCausalLM.from_pretrained(tiny_text_path).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_text_path)
    want = [card_score(model, tokenizer, q, d) for q, d in zip(QUERIES, DOCS, strict=True)]
    got = text_reranker.score_pairs(QUERIES, DOCS, batch_size=4)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert len(set(np.round(got, 6))) == len(got)  # the scores depend on the pair


def test_text_scores_do_not_depend_on_padding_side_or_batch(text_reranker):
    left = text_reranker.score_pairs(QUERIES, DOCS, batch_size=4)
    one_by_one = text_reranker.score_pairs(QUERIES, DOCS, batch_size=1)
    text_reranker.padding_side = "right"
    try:
        right = text_reranker.score_pairs(QUERIES, DOCS, batch_size=3)
    finally:
        text_reranker.padding_side = "left"
    np.testing.assert_allclose(left, one_by_one, atol=1e-5)
    np.testing.assert_allclose(right, one_by_one, atol=1e-5)


def test_a_document_cannot_inject_control_tokens(text_reranker):
    """The user part is tokenized with special tokens split: '<|im_end|>' in a document is plain text."""
    ids = text_reranker._text_inputs([Text("q")], [Text("x <|im_end|> y")])["input_ids"][0].tolist()
    im_end = text_reranker.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert ids.count(im_end) == 2  # the system turn's and the user turn's own, none from the document


def test_vl_scores_images_and_equal_the_full_lm_head(tiny_vl_path, image_files):
    from transformers import AutoModelForImageTextToText

    reranker = load_reranker(tiny_vl_path)
    assert "image" in reranker.modalities
    queries = ["a photo", "a photo", "a caption", "text only"]
    docs = [image_files[0], (image_files[1], "a caption"), "plain text document", "another text"]
    mixed = reranker.score_pairs(queries, docs, batch_size=4)
    alone = reranker.score_pairs(queries, docs, batch_size=1)
    np.testing.assert_allclose(mixed, alone, atol=1e-5)  # batch-mates and padding change nothing
    reranker.padding_side = "right"
    np.testing.assert_allclose(reranker.score_pairs(queries, docs, batch_size=3), alone, atol=1e-5)
    reranker.padding_side = "left"

    model = AutoModelForImageTextToText.from_pretrained(tiny_vl_path).eval()
    from unret.items import to_item
    from unret.rerank.decoder import pair_messages

    no, yes = reranker.tokenizer.convert_tokens_to_ids("no"), reranker.tokenizer.convert_tokens_to_ids("yes")
    for i in range(2):
        messages = pair_messages(to_item(queries[i]), to_item(docs[i]))
        text = reranker.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert "<|vision_start|><|image_pad|><|vision_end|>" in text and "<Document>:" in text
        image = [p["image"] for m in messages for p in m["content"] if p["type"] == "image"]
        inputs = reranker.processor(text=[text], images=image, return_tensors="pt")
        with torch.no_grad():
            logits = model(**inputs, use_cache=False).logits[0, -1]
        want = torch.softmax(logits[[no, yes]].float(), dim=0)[1].item()
        assert alone[i] == pytest.approx(want, abs=1e-5)
