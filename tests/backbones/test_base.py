"""The backbone contract (unret.backbones.base) and model identity (unret.backbones.identity), on a toy."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.backbones.toy import TextOnlyToy, ToyBackbone
from tests.conftest import random_image
from unret.backbones.base import to_device
from unret.backbones.identity import (
    PROBE,
    PROBE_TOLERANCE,
    model_digest,
    probe_drift,
    probe_mismatch,
    probe_vector,
)
from unret.errors import InputError
from unret.items import Code, Item, to_item

pytestmark = pytest.mark.usefixtures("one_thread")


def test_embed_is_prepare_then_forward_and_unit_length():
    toy = ToyBackbone()
    items = [to_item("a river"), to_item(Code("x = 1")), to_item(random_image(30, 20))]
    vectors = toy.embed(items, role="query")
    expected = toy(**toy.prepare(items, role="query"))
    torch.testing.assert_close(vectors, expected)
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(3))
    assert not toy.embed(items[:1], role="query").requires_grad  # inference mode


def test_check_modalities_names_position_and_modality():
    toy = TextOnlyToy()
    items = [to_item("fine"), to_item(random_image(10, 10))]
    with pytest.raises(InputError, match=r"input #7: TextOnlyToy cannot embed image items") as info:
        toy.prepare(items, positions=[6, 7])
    assert info.value.position == 7


def test_load_images_decodes_and_applies_the_models_input_size(image_files):
    png, _, corrupt = image_files
    toy = ToyBackbone(image_size=5)
    loaded = toy.load_images([to_item(png), to_item("text stays text")])
    assert loaded[0].image.size == (5, 5) and loaded[0].size == (5, 5) and loaded[0].image.mode == "RGB"
    assert loaded[1].text == "text stays text" and loaded[1].image is None
    damaged = Item("image", image=corrupt)  # passed the header check, then the file broke
    with pytest.raises(InputError, match="input #3: corrupt or unreadable image"):
        toy.load_images([to_item(png), to_item(png), to_item(png), damaged])
    with pytest.raises(InputError, match="input #12: corrupt or unreadable image"):
        toy.load_images([damaged], positions=[12])


def test_prepare_accepts_items_with_images_already_loaded(image_files):
    toy = ToyBackbone()
    items = [to_item(image_files[0])]
    torch.testing.assert_close(toy(**toy.prepare(toy.load_images(items))), toy(**toy.prepare(items)))


def test_config_records_the_prompts_so_a_reload_words_inputs_alike():
    config = ToyBackbone(prompts="supervised").config()
    assert config["prompts"]["name"] == "supervised" and config["max_length"] is None
    assert config["prompts"]["prompts"]["query/text"]["template"] == "Query: {content}"


def test_to_device_moves_nested_tensors_and_keeps_the_rest():
    batch = {"a": torch.ones(2), "nested": {"b": torch.zeros(1), "keys": ["k"]}, "n": 3}
    moved = to_device(batch, torch.device("meta"))
    assert moved["a"].device.type == "meta" and moved["nested"]["b"].device.type == "meta"
    assert moved["nested"]["keys"] == ["k"] and moved["n"] == 3


def test_probe_vector_is_the_rounded_document_vector_of_the_probe():
    toy = ToyBackbone()
    expected = toy.embed([to_item(PROBE)], role="document")[0]
    assert probe_vector(toy) == [round(x, 6) for x in expected.tolist()]
    truncated = probe_vector(toy, truncate_dim=4)
    assert truncated == [round(x, 6) for x in F.normalize(expected[:4], dim=0).tolist()]


def test_probe_drift_and_mismatch_rule():
    a = [0.5, 0.5]
    assert probe_drift(a, [0.5, 0.5 + PROBE_TOLERANCE / 2]) == pytest.approx(PROBE_TOLERANCE / 2)
    assert probe_mismatch(a, [0.5, 0.5 + PROBE_TOLERANCE / 2]) is None  # the same model, rounding aside
    assert probe_mismatch(a, [0.5, 0.6]) == pytest.approx(0.1)
    assert probe_drift(a, [0.5]) == float("inf") and probe_mismatch(a, [0.5]) == float("inf")
    assert probe_mismatch(probe_vector(ToyBackbone(seed=0)), probe_vector(ToyBackbone(seed=1))) is not None


def test_model_digest_is_stable_and_sees_every_part():
    base = model_digest({"name_or_path": "m"}, {"prompts": "plain"}, None, [0.1, 0.2])
    assert base == model_digest({"name_or_path": "m"}, {"prompts": "plain"}, None, [0.1, 0.2])
    assert len(base) == 64
    assert base != model_digest({"name_or_path": "m"}, {"prompts": "plain"}, 64, [0.1, 0.2])
    assert base != model_digest({"name_or_path": "m"}, {"prompts": "plain"}, None, [0.1, 0.3])
