"""BEIR-format data for evaluation: re-exported from `unret.formats`, where reading and writing live.

Kept so ``from unret.evaluation.data import load_beir`` (and the other names) keeps working; new code
imports from ``unret.formats`` (records, JSON lines, BEIR folders) and ``unret.items`` (item specs).
"""

from __future__ import annotations

from unret.errors import DataFormatError
from unret.formats import (
    QRELS_HEADER,
    Qrels,
    RetrievalDataset,
    load_beir,
    read_entries,
    read_qrels,
    spec_row,
    write_beir,
    write_jsonl,
    write_qrels,
)
from unret.items import ItemSpec, spec_modality, spec_text
from unret.keys import corpus_fingerprint

__all__ = [
    "QRELS_HEADER", "DataFormatError", "ItemSpec", "Qrels", "RetrievalDataset", "corpus_fingerprint", "load_beir",
    "read_entries", "read_qrels", "spec_modality", "spec_row", "spec_text", "write_beir", "write_jsonl",
    "write_qrels",
]
