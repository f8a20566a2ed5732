"""The backbone registry and the one place model names are resolved."""

from __future__ import annotations

import json

import pytest
import torch

from unret import UnifiedRetriever
from unret.backbones import KINDS, backbone_class, detect_kind, load_backbone
from unret.backbones.base import Backbone
from unret.backbones.pooling import normalize
from unret.backbones.registry import REGISTRY, register
from unret.names import is_lexical, resolve_model


def test_builtin_kinds_declare_what_they_handle(tiny_vl_path, tiny_text_path):
    assert {"hf_text", "qwen_vl", "open_clip", "fused"} <= set(KINDS)
    assert {"qwen2_5_vl", "qwen2_vl", "qwen3_vl"} <= REGISTRY["qwen_vl"].model_types
    assert detect_kind(str(tiny_vl_path)) == "qwen_vl"
    assert detect_kind(str(tiny_text_path)) == "hf_text"  # the default kind: any other transformers model
    for kind, cls in KINDS.items():
        assert cls.kind == kind  # the kind is written once, by the decorator
    with pytest.raises(ValueError, match="unknown backbone kind 'nope'"):
        backbone_class("nope")


def test_a_new_family_is_one_registered_class(tmp_path):
    """A toy backbone for a made-up model_type: registered, detected from config.json, loaded, saved, reloaded."""

    @register("toy_hash", model_types=("toy-hash",))
    class ToyBackbone(Backbone):
        def __init__(self, dim: int = 8):
            super().__init__("plain")
            self.scale = torch.nn.Parameter(torch.ones(dim))

        @classmethod
        def from_pretrained(cls, name_or_path, dtype=None, **_):
            return cls(json.loads((tmp_path / "config.json").read_text())["dim"])

        @property
        def dim(self) -> int:
            return self.scale.numel()

        def prepare(self, items, role="document", task=None, instruction=None, positions=None):
            rows = [[float(ord(c) % 7) for c in (item.text or "").ljust(self.dim)[: self.dim]] for item in items]
            return {"x": torch.tensor(rows)}

        def forward(self, x, **_):
            return normalize(x * self.scale + 1e-3)

        def save(self, path):
            (tmp_path / "config.json").write_text(json.dumps({"model_type": "toy-hash", "dim": self.dim}))

    try:
        (tmp_path / "config.json").write_text(json.dumps({"model_type": "toy-hash", "dim": 8}))
        assert detect_kind(str(tmp_path)) == "toy_hash"
        backbone = load_backbone(str(tmp_path))
        assert isinstance(backbone, ToyBackbone) and backbone.config()["kind"] == "toy_hash"
        r = UnifiedRetriever(backbone, {"name_or_path": str(tmp_path)})
        r.save_pretrained(tmp_path)
        again = UnifiedRetriever.from_pretrained(tmp_path)
        torch.testing.assert_close(again.encode_documents(["abc", "hello"]), r.encode_documents(["abc", "hello"]))
        with pytest.raises(ValueError, match="already handled"):
            register("toy_other", model_types=("toy-hash",))(type("Other", (ToyBackbone,), {}))
    finally:
        REGISTRY.pop("toy_hash", None)


def test_names_resolve_in_one_place(tiny_vl_path):
    from unret import testing
    from unret.offline_models import minilm_path

    assert resolve_model("tiny") == str(testing.tiny_qwen25_vl_path())
    assert resolve_model("unret-testing/tiny-qwen2.5-vl") == str(tiny_vl_path)
    assert resolve_model("unret-offline/all-MiniLM-L6-v2") == str(minilm_path())
    assert resolve_model("Qwen/Qwen2.5-VL-3B-Instruct") == "Qwen/Qwen2.5-VL-3B-Instruct"
    assert resolve_model("open_clip:ViT-B-32") == "open_clip:ViT-B-32"
    assert detect_kind("open_clip:ViT-B-32") == "open_clip"
    assert is_lexical("bm25") and is_lexical(" BM25 ") and not is_lexical("bm25-large")
    with pytest.raises(ValueError, match="lexical BM25 retriever"):
        load_backbone("bm25")
    with pytest.raises(ValueError, match="unknown testing model"):
        resolve_model("unret-testing/nope")
