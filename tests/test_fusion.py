"""Fusion heads and the fused backbone: shapes, gradients, one space for all modalities, save/load."""

from __future__ import annotations

import json

import lightning as L
import pytest
import torch

from tests.conftest import random_image
from unret import Code, UnifiedRetriever
from unret.backbones import FusedBackbone
from unret.backbones.fused import FusionMismatchError
from unret.fusion import HEADS, build_head


@pytest.mark.parametrize("kind", sorted(HEADS))
def test_heads_shapes_and_gradients(kind):
    torch.manual_seed(0)
    head = build_head(kind, 12, 20, out_dim=16)
    e_a, e_b = torch.randn(5, 12), torch.randn(5, 20)
    has_a = torch.tensor([True, True, False, True, False])
    has_b = torch.tensor([True, False, True, True, True])
    out = head(e_a, e_b, has_a, has_b)
    assert out.shape == (5, 16) and torch.isfinite(out).all()
    out.pow(2).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in head.parameters())
    # an item one backbone cannot read must not depend on that backbone's (absent) vector
    noise = torch.randn(5, 12)
    again = head(e_a + noise * (~has_a).unsqueeze(-1), e_b, has_a, has_b)
    torch.testing.assert_close(again, out.detach())


def test_gated_and_weighted_route_single_side_items_through_their_projection():
    for kind in ("gated", "weighted"):
        head = build_head(kind, 8, 8, out_dim=8)
        e_a, e_b = torch.randn(2, 8), torch.randn(2, 8)
        only_b = head(e_a, e_b, torch.tensor([False, False]), torch.tensor([True, True]))
        torch.testing.assert_close(only_b, head.proj_b(e_b))
        only_a = head(e_a, e_b, torch.tensor([True, True]), torch.tensor([False, False]))
        torch.testing.assert_close(only_a, head.proj_a(e_a))


def test_concat_head_starts_as_score_fusion():
    head = build_head("concat", 4, 6)
    e_a, e_b = torch.randn(3, 4), torch.randn(3, 6)
    ones = torch.ones(3, dtype=torch.bool)
    torch.testing.assert_close(head(e_a, e_b, ones, ones), torch.cat([e_a, e_b], dim=1))


def test_bad_head_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown fusion head"):
        build_head("mlp", 4, 4)
    with pytest.raises(ValueError, match="expects dims"):
        build_head("gated", 4, 4)(torch.zeros(1, 5), torch.zeros(1, 4), torch.ones(1, dtype=torch.bool),
                                  torch.ones(1, dtype=torch.bool))


@pytest.fixture(scope="module")
def fused():
    backbone = FusedBackbone.build("unret-testing/tiny-qwen2", "unret-testing/tiny-qwen2.5-vl", head="gated")
    return UnifiedRetriever(backbone, {"name_or_path": "tiny-fused"})


def test_fused_retriever_indexes_all_modalities_and_finds_a_known_item(fused):
    images = [random_image(56, 84, seed=s) for s in range(3)]
    docs = ["a text about rivers", Code("def add(a, b):\n    return a + b", "python"), *images,
            (random_image(60, 60, seed=9), "captioned")]
    fused.add(docs, ids=["t", "c", "i0", "i1", "i2", "p"])
    assert fused.search(images[1], k=1)[0].id == "i1"
    assert {h.modality for h in fused.search("anything", k=6)} == {"text", "code", "image", "image+text"}
    assert fused.index.model["backbone"] == "fused"  # the index records the fused model


def test_fused_vectors_are_batch_invariant_and_cached(fused):
    inputs = ["short", Code("x = 1"), random_image(56, 56, seed=4), "a longer text " * 10]
    first = fused.encode_documents(inputs, batch_size=4)
    assert len(fused.backbone.caches["b"]) >= 4  # every item cached on the VL side
    calls = {"n": 0}
    original = fused.backbone.b.forward

    def counting(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    fused.backbone.b.forward = counting
    try:
        again = [fused.encode_documents(x) for x in inputs]
    finally:
        fused.backbone.b.forward = original
    assert calls["n"] == 0  # served from the cache
    torch.testing.assert_close(torch.stack(again), first, atol=1e-5, rtol=0)


def test_save_load_identical_and_mismatch_refused(fused, tmp_path):
    inputs = ["text", Code("def f(): pass"), random_image(70, 50, seed=3)]
    before = fused.encode_documents(inputs)
    fused.save_pretrained(tmp_path / "fused")
    again = UnifiedRetriever.from_pretrained(tmp_path / "fused")
    torch.testing.assert_close(again.encode_documents(inputs), before, atol=1e-6, rtol=0)

    config_file = tmp_path / "fused" / "fusion.json"
    config = json.loads(config_file.read_text())
    from unret.testing import tiny_qwen25_vl_path

    config["backbones"]["b"]["source"] = str(tiny_qwen25_vl_path(seed=1))  # same dims, other weights
    config_file.write_text(json.dumps(config))
    with pytest.raises(FusionMismatchError, match="embeds differently"):
        UnifiedRetriever.from_pretrained(tmp_path / "fused")
    config["head"]["dim_b"] = 32  # a head trained for other dims
    config["backbones"]["b"]["source"] = "unret-testing/tiny-qwen2.5-vl"
    config_file.write_text(json.dumps(config))
    with pytest.raises((FusionMismatchError, RuntimeError), match=r"dims|size mismatch"):
        UnifiedRetriever.from_pretrained(tmp_path / "fused")


def test_tiny_fusion_training_lowers_the_loss(tmp_path):
    from unret.testing import write_toy_retrieval_jsonl
    from unret.training.data import RetrievalDataModule
    from unret.training.module import RetrieverModule

    data = write_toy_retrieval_jsonl(tmp_path / "train.jsonl", n=32, num_negatives=3)
    L.seed_everything(0)
    module = RetrieverModule("unret-testing/tiny-qwen2.5-vl", fuse_with="unret-testing/tiny-qwen2",
                             fusion_head="gated", temperature=0.05, learning_rate=1e-2,
                             export_dir=str(tmp_path / "export"))
    trainable = {n for n, p in module.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("backbone.head.") for n in trainable)  # backbones frozen
    losses: list[float] = []

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(float(outputs["loss"]))

    trainer = L.Trainer(accelerator="cpu", max_epochs=8, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[Record()])
    trainer.fit(module, RetrievalDataModule(str(data), batch_size=8, num_negatives=3))
    per_epoch = len(losses) // 8
    assert sum(losses[-per_epoch:]) < 0.6 * sum(losses[:per_epoch]), losses
    exported = UnifiedRetriever.from_pretrained(tmp_path / "export")
    assert isinstance(exported.backbone, FusedBackbone)
    probe = ["the red river"]
    torch.testing.assert_close(exported.encode_queries(probe),
                               module.backbone.embed([__import__("unret").items.to_item(p) for p in probe],
                                                     role="query").cpu(), atol=1e-5, rtol=0)
