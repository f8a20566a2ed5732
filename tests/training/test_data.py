"""Training data: validation with file:line errors, skipping, and the collator's layout."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import random_image
from unret.training.data import DataError, JsonlDataset, RetrievalCollator


def _write(path, records):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")
    return path


GOOD = {"query": "q", "positives": ["p"], "negatives": [{"code": "x = 1", "language": "python"}]}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", r"train.jsonl:2: invalid JSON"),
        ({"positives": ["p"]}, r"train.jsonl:2: missing 'query'"),
        ({"query": "", "positives": ["p"]}, r"train.jsonl:2: query: empty text"),
        ({"query": "q", "positives": []}, r"train.jsonl:2: 'positives' must be a non-empty list"),
        ({"query": "q", "positives": [3]}, r"train.jsonl:2: positives\[0\]: an item must be a string or an object"),
        ({"query": "q", "positives": [{"image": "nope.png"}]}, r"train.jsonl:2: positives\[0\]: image file not found"),
        ({"query": "q", "positives": ["p"], "teacher_scores": [1, 2]}, r"train.jsonl:2: 2 teacher_scores for 1"),
        ({"query": "q", "positives": ["p"], "extra": 1}, r"train.jsonl:2: unknown keys \['extra'\]"),
        ([1, 2], r"train.jsonl:2: a record must be a JSON object"),
    ],
)
def test_bad_records_name_file_and_line(tmp_path, bad, message):
    path = _write(tmp_path / "train.jsonl", [GOOD, bad, GOOD])
    with pytest.raises(DataError, match=message):
        JsonlDataset(path)


def test_skip_bad_counts_and_keeps_the_rest(tmp_path):
    path = _write(tmp_path / "train.jsonl", [GOOD, "{oops", {"query": "q"}, GOOD])
    data = JsonlDataset(path, skip_bad=True)
    assert len(data) == 2 and data.skipped == 2


def test_image_paths_are_relative_to_the_file(tmp_path):
    (tmp_path / "img").mkdir()
    random_image(40, 30).save(tmp_path / "img" / "a.png")
    path = _write(tmp_path / "train.jsonl", [{"query": "a picture", "positives": [{"image": "img/a.png",
                                                                                     "text": "caption"}]}])
    ex = JsonlDataset(path)[0]
    assert ex.positives[0].modality == "image+text" and ex.positives[0].image == tmp_path / "img" / "a.png"


def test_collator_aligns_slots_with_flat_documents(tiny_vl, tmp_path):
    random_image(56, 56).save(tmp_path / "x.png")
    records = [
        {"query": "q0", "positives": ["p0"], "negatives": ["n00", "n01"], "teacher_scores": [0.9, 0.2, 0.1]},
        {"query": "q1", "positives": [{"image": "x.png"}], "negatives": [], "teacher_scores": [0.8]},
    ]
    data = JsonlDataset(_write(tmp_path / "t.jsonl", records))
    contrastive = RetrievalCollator(tiny_vl.backbone, "contrastive", num_negatives=3)([data[0], data[1]])
    assert contrastive["doc_index"].tolist() == [[0, 1, 2, -1], [3, -1, -1, -1]]  # fixed width 1 + 3
    assert contrastive["docs"]["input_ids"].shape[0] == 4 and "pixel_values" in contrastive["docs"]
    distill = RetrievalCollator(tiny_vl.backbone, "distill", list_size=20)([data[0], data[1]])
    assert distill["doc_index"].tolist() == [[0, 1, 2], [3, -1, -1]]
    torch.testing.assert_close(distill["teacher_scores"], torch.tensor([[0.9, 0.2, 0.1], [0.8, 0.0, 0.0]]))


def test_distill_without_teacher_scores_is_refused(tiny_vl, tmp_path):
    data = JsonlDataset(_write(tmp_path / "t.jsonl", [GOOD]))
    with pytest.raises(DataError, match="teacher_scores"):
        RetrievalCollator(tiny_vl.backbone, "distill")([data[0]])
