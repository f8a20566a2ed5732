"""Image loading for encoding: JPEG draft decoding, and loading one batch ahead in a thread."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageOps

from tests.conftest import random_image
from unret import InputError
from unret import encoding as encoding_module
from unret.items import to_item


def photo_like(width: int, height: int, seed: int = 0) -> Image.Image:
    """Smooth gradients and shapes (what JPEG is for), not noise."""
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.linspace(0, 1, width), np.linspace(0, 1, height))
    rgb = np.stack([x, y, (x + y) / 2], axis=-1) * 255
    img = Image.fromarray(rgb.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width - 50)), int(rng.integers(0, height - 50))
        draw.ellipse([x0, y0, x0 + width // 6, y0 + height // 6], fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    return img


@pytest.mark.parametrize("orientation", [1, 6])
def test_large_jpegs_are_draft_decoded_close_to_a_full_decode(tiny_vl, tmp_path, orientation):
    backbone = tiny_vl.backbone
    path = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    photo_like(1600, 1200).save(path, quality=92, exif=exif)
    full = ImageOps.exif_transpose(Image.open(path)).convert("RGB")  # the plain decode, upright
    target = backbone.target_size(*full.size)

    drafted = to_item(path).load_image(fit=backbone.target_size)
    assert drafted.size[0] >= target[0] and drafted.size[1] >= target[1]  # never below what the model reads
    assert drafted.size[0] < full.size[0]  # decoded at a reduced scale
    assert (drafted.size[0] > drafted.size[1]) == (full.size[0] > full.size[1])  # upright, like the full decode

    via_path = backbone.load_images([to_item(path)])[0].image
    via_full = backbone.resize(full)
    assert via_path.size == via_full.size == target
    diff = np.abs(np.asarray(via_path, np.float32) - np.asarray(via_full, np.float32))
    assert diff.mean() < 2.0, diff.mean()  # of 255: the same picture


def test_loading_ahead_in_a_thread_gives_the_same_vectors_and_errors(tiny_vl, tmp_path, monkeypatch):
    paths = []
    for i in range(7):
        paths.append(tmp_path / f"{i}.jpg")
        random_image(60 + 20 * i, 90, seed=i).save(paths[-1])
    inputs = ["a caption-free text", *paths, (paths[0], "with a caption")]
    monkeypatch.setattr(encoding_module, "_cores_to_spare", lambda backbone: False)
    inline = tiny_vl.encode_documents(inputs, batch_size=2)
    monkeypatch.setattr(encoding_module, "_cores_to_spare", lambda backbone: True)
    ahead = tiny_vl.encode_documents(inputs, batch_size=2)
    torch.testing.assert_close(ahead, inline, atol=0, rtol=0)

    broken = tmp_path / "cut.png"
    random_image(64, 64).save(broken)
    broken.write_bytes(broken.read_bytes()[:200])  # the header parses; decoding fails in the thread
    with pytest.raises(InputError, match=r"input #8: corrupt or unreadable image .*cut.png"):
        tiny_vl.encode_documents([*inputs[:8], broken], batch_size=2, sort_by_length=False)


def test_cores_to_spare_follows_torch_threads(tiny_vl, monkeypatch):
    monkeypatch.setattr(encoding_module.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    assert not encoding_module._cores_to_spare(tiny_vl.backbone)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert encoding_module._cores_to_spare(tiny_vl.backbone)


def test_encoding_a_model_in_training_mode_uses_eval_mode_and_restores_it(minilm_path):
    """Dropout must be off while encoding (vectors deterministic), and a module mid-training stays in train()."""
    from unret import UnifiedRetriever

    r = UnifiedRetriever.from_pretrained(minilm_path)
    texts = ["a sentence about rivers", "def f(x): return x"]
    reference = r.encode_documents(texts)
    assert not r.backbone.training
    r.backbone.train()
    torch.testing.assert_close(r.encode_documents(texts), reference, atol=0, rtol=0)
    assert r.backbone.training and all(m.training for m in r.backbone.modules())
    r.backbone.eval()


def test_plan_batches_bounds_items_and_padded_tokens():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 300, 500).tolist()
    batches = encoding_module.plan_batches(lengths, batch_size=16, max_batch_tokens=1024)
    assert sorted(i for b in batches for i in b) == list(range(500))  # every input once
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(lengths, reverse=True)  # longest first
    for b in batches:
        longest = max(lengths[i] for i in b)
        assert len(b) <= 16 and (len(b) * longest <= 1024 or len(b) == 1)
    assert encoding_module.plan_batches([5000, 3], 8, 100) == [[0], [1]]  # over the budget: alone


def test_text_batches_are_cut_by_exact_token_counts(tiny_text_path, monkeypatch):
    """Digits are a token each, runs of indentation a few tokens: sorted by characters, a batch mixes both and
    pads most of its tokens; sorted by exact counts it pads few. Vectors equal encoding one at a time."""
    from unret import UnifiedRetriever

    r = UnifiedRetriever.from_pretrained(tiny_text_path, recipe="plain")
    rng = np.random.default_rng(1)
    texts = []
    for i in range(32):
        n = int(rng.integers(5, 40))
        texts.append("1234567890" * n if i % 2 else "        x = 1\n" * n)
    shapes = []
    forward = type(r.backbone).forward

    def spy(self, input_ids, attention_mask, **kwargs):
        shapes.append((attention_mask.numel(), int(attention_mask.sum())))
        return forward(self, input_ids, attention_mask, **kwargs)

    monkeypatch.setattr(type(r.backbone), "forward", spy)
    got = r.encode_documents(texts, batch_size=8)
    padded, real = sum(s[0] for s in shapes), sum(s[1] for s in shapes)
    assert padded <= 1.12 * real, (padded, real)
    one_by_one = torch.cat([r.encode_documents([t]) for t in texts])
    torch.testing.assert_close(got, one_by_one, atol=1e-5, rtol=0)
