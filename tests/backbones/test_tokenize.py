"""PromptTokenizer's direct Rust-backend path gives exactly what the transformers tokenizer call gives."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from unret.backbones.tokenize import PromptTokenizer

TRICKY = [
    "plain words",
    "  leading and trailing spaces  ",
    "tabs\tand\nnewlines\r\n",
    "special text stays text: <|im_end|> <|endoftext|> [CLS] [SEP] </s>",
    "unicode: naïve café Größe 日本語テキスト 🙂👍🏽 عربى",
    "x" * 3000,
]


def corpus() -> list[str]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(stdlib.glob("*.py"))[:20]
    return TRICKY + [f.read_text(encoding="utf-8", errors="replace")[:4000] for f in files]


@pytest.mark.parametrize("which", ["qwen", "minilm"])
def test_direct_backend_equals_the_transformers_call(which, tiny_vl_path, request):
    path = tiny_vl_path if which == "qwen" else request.getfixturevalue("minilm_path")
    tokenizer = AutoTokenizer.from_pretrained(path)
    pt = PromptTokenizer(tokenizer)
    assert pt._direct, "a fast tokenizer should take the direct path"
    texts = corpus()
    for add_special in (False, True):
        expected = tokenizer(texts, add_special_tokens=add_special, split_special_tokens=True)["input_ids"]
        assert pt._tokenize(texts, add_special) == expected
    # MiniLM's tokenizer.json ships with truncation at 128 tokens: the direct path must not apply it
    # (unret cuts only the item's text, to max_length, itself), even after a truncating user call.
    tokenizer(["x"], truncation=True, max_length=8, padding="max_length")
    assert len(pt._tokenize([" ".join(["word"] * 1000)], False)[0]) == 1000
    assert pt._tokenize(["hi"], False) == tokenizer(["hi"], add_special_tokens=False)["input_ids"]  # unpadded


def test_falls_back_to_transformers_when_the_backend_disagrees(tiny_vl_path, monkeypatch):
    tokenizer = AutoTokenizer.from_pretrained(tiny_vl_path)

    def disagreeing(self, runs, add):
        return [[0, *ids] for ids in tokenizer(runs, add_special_tokens=add)["input_ids"]]

    monkeypatch.setattr(PromptTokenizer, "_call_tokenizer", disagreeing)
    assert not PromptTokenizer(tokenizer)._direct
