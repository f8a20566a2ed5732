"""The one record codec (unret.formats.records): the same record means the same item everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import random_image
from unret.errors import DataFormatError, RecordError
from unret.formats import read_jsonl, spec_from_record, spec_record, write_jsonl
from unret.items import Code, Text, to_item
from unret.training.data import JsonlDataset


@pytest.fixture
def image(tmp_path) -> Path:
    (tmp_path / "img").mkdir()
    path = tmp_path / "img" / "a.png"
    random_image(16, 12).save(path)
    return path


def test_every_spec_round_trips_relative_to_a_root_or_absolute(tmp_path, image):
    specs = [Text("a river"), Code("def f():\n    pass\n", "python"), Code("SELECT 1"), image, (image, "caption")]
    for spec in specs:
        inside = spec_record(spec, root=tmp_path)
        assert spec_from_record(inside, tmp_path) == spec
        outside = spec_record(spec)  # no root: image paths absolute
        assert spec_from_record(outside, Path("/nowhere")) == spec
    assert spec_record(image, root=tmp_path)["image"] == "img/a.png"
    assert spec_record(Code("x", "go")) == {"text": "x", "modality": "code", "language": "go"}  # CoIR layout


def test_record_rules(tmp_path, image):
    assert spec_from_record("  as is  ", tmp_path) == Text("  as is  ")  # a bare string is text, untouched
    assert spec_from_record({"title": "T", "text": " body "}, tmp_path) == Text("T body")  # BEIR's join
    assert spec_from_record({"code": "x = 1", "language": "python"}, tmp_path) == Code("x = 1", "python")
    assert spec_from_record({"text": "x = 1", "language": "python"}, tmp_path) == Code("x = 1", "python")
    assert spec_from_record({"text": "words", "language": "en", "modality": "text"}, tmp_path) == Text("words")
    assert spec_from_record({"image": "img/a.png", "text": "cap"}, tmp_path) == (image, "cap")
    assert spec_from_record({"image": "img/a.png", "text": "cap", "modality": "image"}, tmp_path) == image
    assert spec_from_record({"text": "x", "url": "ignored"}, tmp_path) == Text("x")  # BEIR extras pass
    with pytest.raises(RecordError, match=r"unknown keys \['url'\]"):
        spec_from_record({"text": "x", "url": "u"}, tmp_path, strict=True)
    with pytest.raises(RecordError, match="image file not found"):
        spec_from_record({"image": "img/none.png"}, tmp_path)
    with pytest.raises(RecordError, match="an item must be a string or an object"):
        spec_from_record(3, tmp_path)


def test_training_files_read_records_as_beir_files_do(tmp_path, image):
    """A CoIR-style code record and a captioned image in training JSONL become the items BEIR gives."""
    record = {"query": "q", "positives": [{"text": "def f(): pass", "modality": "code", "language": "python"}],
              "negatives": [{"image": "img/a.png", "text": "a caption"}]}
    (tmp_path / "train.jsonl").write_text(json.dumps(record) + "\n")
    ex = JsonlDataset(tmp_path / "train.jsonl")[0]
    assert (ex.positives[0].modality, ex.positives[0].language) == ("code", "python")
    assert ex.negatives[0].modality == "image+text" and ex.negatives[0].image == image
    assert ex.negatives[0].text == to_item((image, "a caption")).text


def test_jsonl_write_is_atomic_and_reads_back(tmp_path):
    path = tmp_path / "rows.jsonl"
    assert write_jsonl(path, [{"a": "é"}, {"b": 2}]) == 2
    assert "é" in path.read_text(encoding="utf-8")  # UTF-8, not escaped
    assert list(read_jsonl(path)) == [(1, {"a": "é"}), (2, {"b": 2})]

    def broken():
        yield {"c": 3}
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_jsonl(path, broken())
    assert list(read_jsonl(path)) == [(1, {"a": "é"}), (2, {"b": 2})]  # the old file, whole
    assert [p.name for p in tmp_path.iterdir()] == ["rows.jsonl"]  # no temporary left behind
    path.write_text('{"ok": 1}\n\n{broken\n')
    with pytest.raises(DataFormatError, match=r"rows.jsonl:3: invalid JSON"):
        list(read_jsonl(path))
