"""OpenCLIP baseline: a tiny random CLIP registered through open_clip's own config registry, checked against
plain open_clip calls written here (no weights are downloaded)."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import random_image
from unret import Code, UnifiedRetriever
from unret.backbones import detect_kind, load_backbone

open_clip = pytest.importorskip("open_clip")

ARCH = "unret-tiny-clip-test"
TINY_CFG = {
    "embed_dim": 24,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> str:
    """A random tiny CLIP's weights file, its architecture registered with open_clip as ``ARCH``."""
    folder = tmp_path_factory.mktemp("tiny_clip")
    (folder / f"{ARCH}.json").write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(folder / f"{ARCH}.json")
    torch.manual_seed(0)
    model = open_clip.create_model(ARCH, pretrained=None)
    path = folder / "tiny_clip.bin"
    torch.save(model.state_dict(), path)
    return str(path)


@pytest.fixture(scope="module")
def reference(weights):
    """Plain open_clip: the model, its inference transform and tokenizer, as open_clip's README uses them."""
    model, _, preprocess = open_clip.create_model_and_transforms(ARCH, pretrained=weights)
    return model.eval(), preprocess, open_clip.get_tokenizer(ARCH)


@pytest.fixture(scope="module")
def clip(weights) -> UnifiedRetriever:
    return UnifiedRetriever.from_pretrained(f"open_clip:{ARCH}", pretrained=weights)


def plain_text(reference, texts: list[str]) -> torch.Tensor:
    model, _, tokenizer = reference
    with torch.no_grad():
        return torch.nn.functional.normalize(model.encode_text(tokenizer(texts)), dim=-1)


def plain_image(reference, images) -> torch.Tensor:
    model, preprocess, _ = reference
    with torch.no_grad():
        return torch.nn.functional.normalize(model.encode_image(torch.stack([preprocess(i) for i in images])), dim=-1)


IMAGES = [random_image(40, 30, seed=3), random_image(64, 64, seed=4), random_image(17, 50, seed=5)]
TEXTS = ["a red bicycle leaning on a wall", "grinning face with smiling eyes", "def add(a, b):\n    return a + b"]


def test_vectors_match_plain_open_clip(clip, reference):
    assert clip.dim == 24 and clip.backbone.config()["kind"] == "open_clip"
    got_text = clip.encode_documents([TEXTS[0], TEXTS[1], Code(TEXTS[2], "python")], batch_size=3)
    torch.testing.assert_close(got_text, plain_text(reference, TEXTS), atol=1e-5, rtol=0)
    got_images = clip.encode_documents(IMAGES, batch_size=3)
    torch.testing.assert_close(got_images, plain_image(reference, IMAGES), atol=1e-5, rtol=0)
    # queries read the same text (the default 'plain' prompts add nothing)
    torch.testing.assert_close(clip.encode_queries(TEXTS[:2]), plain_text(reference, TEXTS[:2]), atol=1e-5, rtol=0)


def test_mixed_batch_equals_items_alone(clip, reference):
    items = [TEXTS[0], IMAGES[0], Code(TEXTS[2]), IMAGES[1], (IMAGES[2], TEXTS[1]), TEXTS[1]]
    batched = clip.encode_documents(items, batch_size=len(items))
    assert batched.shape == (6, 24)
    for i, item in enumerate(items):
        torch.testing.assert_close(batched[i], clip.encode_documents(item), atol=1e-5, rtol=0)
    torch.testing.assert_close(batched, clip.encode_documents(items, batch_size=4, sort_by_length=False),
                               atol=1e-5, rtol=0)
    # rows landed where they belong: text rows are text vectors, image rows image vectors
    torch.testing.assert_close(batched[[0, 5]], plain_text(reference, [TEXTS[0], TEXTS[1]]), atol=1e-5, rtol=0)
    torch.testing.assert_close(batched[[1, 3]], plain_image(reference, IMAGES[:2]), atol=1e-5, rtol=0)
    # image+text: the renormalised sum of the image's and the text's unit vectors
    fused = plain_image(reference, [IMAGES[2]])[0] + plain_text(reference, [TEXTS[1]])[0]
    torch.testing.assert_close(batched[4], fused / fused.norm(), atol=1e-5, rtol=0)


def test_save_load_round_trip(clip, reference, tmp_path):
    items = [TEXTS[0], IMAGES[0], (IMAGES[1], TEXTS[1])]
    before = clip.encode_documents(items)
    clip.save_pretrained(tmp_path / "model")
    again = UnifiedRetriever.from_pretrained(tmp_path / "model")
    assert type(again.backbone).__name__ == "OpenCLIPBackbone"
    torch.testing.assert_close(again.encode_documents(items), before, atol=1e-6, rtol=0)
    # the folder is open_clip's own hub layout: plain open_clip reads it too
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{tmp_path / 'model'}")
    plain = (model.eval(), preprocess, open_clip.get_tokenizer(f"local-dir:{tmp_path / 'model'}"))
    torch.testing.assert_close(before[0], plain_text(plain, [TEXTS[0]])[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(before[1], plain_image(plain, [IMAGES[0]])[0], atol=1e-5, rtol=0)
    # an index built with open_clip:ARCH + pretrained file reloads with the model reference alone
    clip_index = UnifiedRetriever.from_pretrained(f"open_clip:{ARCH}", pretrained=clip.backbone.pretrained)
    clip_index.add(IMAGES, ids=["a", "b", "c"])
    clip_index.save(tmp_path / "index")
    loaded = UnifiedRetriever.load(tmp_path / "index")
    assert loaded.search(IMAGES[1], k=1, exact=True)[0].id == "b"


def test_missing_weights_and_unknown_tags_are_clear_errors(weights, tmp_path):
    missing = tmp_path / "nowhere" / "open_clip_pytorch_model.bin"
    with pytest.raises(FileNotFoundError, match=r"CLIP weights file not found: .*nowhere"):
        load_backbone(f"open_clip:{ARCH}", pretrained=str(missing))
    with pytest.raises(FileNotFoundError, match="CLIP weights file not found"):
        UnifiedRetriever.from_pretrained("open_clip:ViT-B-32", pretrained=str(missing))
    with pytest.raises(ValueError, match=r"unknown pretrained tag 'no-such-tag' for ViT-B-32; .*openai"):
        load_backbone("open_clip:ViT-B-32", pretrained="no-such-tag")
    with pytest.raises(ValueError, match="needs pretrained="):
        load_backbone(f"open_clip:{ARCH}")
    with pytest.raises(ValueError, match="unknown open_clip architecture"):
        load_backbone("open_clip:ViT-Nope-99", pretrained=weights)
    with pytest.raises(ValueError, match="CLIP reads plain text"):
        load_backbone(f"open_clip:{ARCH}", pretrained=weights, prompts="oneword")


def test_kind_detection(weights, tmp_path):
    assert detect_kind(f"open_clip:{ARCH}") == "open_clip"
    backbone = load_backbone(f"open_clip:{ARCH}", pretrained=weights)
    backbone.save(tmp_path / "clip")
    assert detect_kind(str(tmp_path / "clip")) == "open_clip"
    assert set(backbone.modalities) == {"text", "code", "image", "image+text"}
