"""Data on disk, one codec for all: records ↔ item specs, JSON lines, and BEIR folders.

Evaluation, training (data, mining) and the data set builders all read and write through here, so a
record means the same thing wherever it appears. Light: imports neither torch nor transformers.
"""

from __future__ import annotations

from unret.formats.beir import (
    QRELS_HEADER,
    Qrels,
    RetrievalDataset,
    load_beir,
    read_entries,
    read_qrels,
    spec_row,
    write_beir,
    write_qrels,
)
from unret.formats.records import RecordError, read_jsonl, spec_from_record, spec_record, write_jsonl

__all__ = [
    "QRELS_HEADER", "Qrels", "RecordError", "RetrievalDataset", "load_beir", "read_entries", "read_jsonl",
    "read_qrels", "spec_from_record", "spec_record", "spec_row", "write_beir", "write_jsonl", "write_qrels",
]
