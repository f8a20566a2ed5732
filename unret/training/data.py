"""Training data: JSONL and BEIR-format datasets, the collator, and a LightningDataModule.

JSONL format, one example per line (paths relative to the file's folder)::

    {"query": "parse a url",                                   # text, or an item object below
     "positives": ["def parse_url(u): ...", ...],              # at least one
     "negatives": [{"code": "def f(): ...", "language": "python"}, {"image": "img/cat.png", "text": "a cat"}],
     "teacher_scores": [0.93, 0.12, 0.05]}                     # optional: one per positive, then negative

An item is a string (text), ``{"text": ...}``, ``{"code": ..., "language": ...}`` or
``{"image": path, "text": optional caption}``. A bad record raises ``DataError`` naming file and line, or
with ``skip_bad=True`` is skipped and counted (``dataset.skipped``).

The collator reuses the backbone's own ``prepare`` (prompts, tokenisation, image processing), so training
sees exactly the inputs inference sees.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from unret.errors import UnretError
from unret.items import InputError, Item, to_item

log = logging.getLogger(__name__)


class DataError(UnretError, ValueError):
    """A malformed training record; the message names the file and line."""


@dataclass
class Example:
    """One training query with its positives, negatives and (optionally) teacher scores."""

    query: Item
    positives: list[Item]
    negatives: list[Item] = field(default_factory=list)
    teacher_scores: list[float] | None = None  # aligned with positives + negatives


def _resolve_paths(spec: Any, base: Path) -> Any:
    """Image paths in a record are relative to the data file's folder."""
    if isinstance(spec, dict) and isinstance(spec.get("image"), str):
        image = Path(spec["image"]).expanduser()
        return {**spec, "image": image if image.is_absolute() else base / image}
    return spec


def _item(spec: Any, base: Path, where: str) -> Item:
    if isinstance(spec, str):
        spec = {"text": spec}  # in data files a string is always text, never a path
    if not isinstance(spec, dict):
        raise DataError(f"{where}: an item must be a string or an object, got {type(spec).__name__}")
    try:
        return to_item(_resolve_paths(spec, base))
    except InputError as exc:
        raise DataError(f"{where}: {str(exc).split(': ', 1)[-1]}") from None


def parse_example(record: Any, base: Path, where: str) -> Example:
    """Validate one JSON record into an `Example` (errors name ``where``, e.g. ``file:line``)."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: a record must be a JSON object, got {type(record).__name__}")
    unknown = set(record) - {"query", "positives", "negatives", "teacher_scores", "id", "query_id"}
    if unknown:
        raise DataError(f"{where}: unknown keys {sorted(unknown)}")
    if "query" not in record:
        raise DataError(f"{where}: missing 'query'")
    query = _item(record["query"], base, f"{where}: query")
    positives, negatives = record.get("positives"), record.get("negatives", [])
    if not isinstance(positives, list) or not positives:
        raise DataError(f"{where}: 'positives' must be a non-empty list")
    if not isinstance(negatives, list):
        raise DataError(f"{where}: 'negatives' must be a list")
    pos = [_item(s, base, f"{where}: positives[{i}]") for i, s in enumerate(positives)]
    neg = [_item(s, base, f"{where}: negatives[{i}]") for i, s in enumerate(negatives)]
    scores = record.get("teacher_scores")
    if scores is not None:
        if not isinstance(scores, list) or not all(isinstance(s, (int, float)) for s in scores):
            raise DataError(f"{where}: 'teacher_scores' must be a list of numbers")
        if len(scores) != len(pos) + len(neg):
            raise DataError(f"{where}: {len(scores)} teacher_scores for {len(pos) + len(neg)} candidates "
                            "(one per positive, then per negative)")
        scores = [float(s) for s in scores]
    return Example(query, pos, neg, scores)


class JsonlDataset(Dataset):
    """Examples from a JSONL file, validated on load so errors surface before training starts."""

    def __init__(self, path: str | Path, skip_bad: bool = False):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"training data not found: {self.path}")
        self.examples: list[Example] = []
        self.skipped = 0
        base = self.path.parent
        with self.path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                where = f"{self.path}:{number}"
                try:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise DataError(f"{where}: invalid JSON ({exc.msg})") from None
                    self.examples.append(parse_example(record, base, where))
                except DataError as exc:
                    if not skip_bad:
                        raise
                    self.skipped += 1
                    log.warning("skipping %s", exc)
        if self.skipped:
            log.warning("%s: skipped %d bad records", self.path, self.skipped)
        if not self.examples:
            raise DataError(f"{self.path}: no usable examples")

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> Example:
        return self.examples[i]


def beir_examples(folder: str | Path, split: str = "train") -> list[Example]:
    """Examples from a BEIR folder: each query's qrels with score > 0 are its positives."""
    from unret.evaluation.data import load_beir

    data = load_beir(folder, split)
    examples = []
    for qid, rels in data.qrels.items():
        positives = [to_item(data.corpus[d]) for d, score in rels.items() if score > 0]
        if positives:
            examples.append(Example(to_item(data.queries[qid]), positives))
    return examples


class ListDataset(Dataset):
    def __init__(self, examples: Sequence[Example]):
        self.examples = list(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> Example:
        return self.examples[i]


class RetrievalCollator:
    """Batches examples into backbone inputs.

    ``mode="contrastive"``: each query gets one positive (the first) and up to ``num_negatives`` hard
    negatives. ``mode="distill"``: each query gets its candidate list (positives then negatives, at most
    ``list_size``) with the teacher's scores. Documents are prepared once, flat; ``doc_index`` (batch,
    slots) says which flat row fills each slot (-1: empty), so ragged lists cost no padding compute.
    """

    def __init__(self, backbone, mode: str = "contrastive", num_negatives: int = 15, list_size: int = 20,
                 task: str | None = None, shuffle_negatives: bool = False, seed: int = 0):
        if mode not in ("contrastive", "distill"):
            raise ValueError(f"mode must be 'contrastive' or 'distill', got {mode!r}")
        self.backbone, self.mode = backbone, mode
        self.num_negatives, self.list_size, self.task = num_negatives, list_size, task
        self.shuffle_negatives = shuffle_negatives
        self.rng = random.Random(seed)

    def _slots(self, ex: Example) -> tuple[list[Item], list[float] | None]:
        if self.mode == "distill":
            if ex.teacher_scores is None:
                raise DataError("distillation needs 'teacher_scores' in every record (see `unret mine`)")
            docs = (ex.positives + ex.negatives)[: self.list_size]
            return docs, ex.teacher_scores[: len(docs)]
        negatives = list(ex.negatives)
        if self.shuffle_negatives:
            self.rng.shuffle(negatives)
        return [ex.positives[0], *negatives[: self.num_negatives]], None

    def __call__(self, examples: Sequence[Example]) -> dict[str, Any]:
        width = self.list_size if self.mode == "distill" else 1 + self.num_negatives
        doc_index = torch.full((len(examples), width), -1, dtype=torch.long)  # (batch_size, slots)
        teacher = torch.zeros((len(examples), width))  # (batch_size, slots)
        flat: list[Item] = []
        for row, ex in enumerate(examples):
            docs, scores = self._slots(ex)
            doc_index[row, : len(docs)] = torch.arange(len(flat), len(flat) + len(docs))
            flat.extend(docs)
            if scores is not None:
                teacher[row, : len(scores)] = torch.tensor(scores)
        # Contrastive batches keep a fixed width: under DDP every rank must gather equally shaped negatives.
        used = width if self.mode == "contrastive" else int((doc_index >= 0).sum(1).max())
        batch = {
            "query": self.backbone.prepare([ex.query for ex in examples], role="query", task=self.task),
            "docs": self.backbone.prepare(flat, role="document"),
            "doc_index": doc_index[:, :used],
        }
        if self.mode == "distill":
            batch["teacher_scores"] = teacher[:, :used]
        return batch


class RetrievalDataModule(L.LightningDataModule):
    """Train/val dataloaders over a JSONL file or a BEIR folder; collates with the module's backbone.

    Args:
        train_file: JSONL file (format in the module docstring) or a BEIR folder.
        val_file: optional held-out JSONL/BEIR data; else ``val_fraction`` of the training examples.
        mode: ``contrastive`` (InfoNCE) or ``distill`` (listwise distillation; needs teacher scores).
    """

    def __init__(self, train_file: str, val_file: str | None = None, val_fraction: float = 0.0,
                 mode: str = "contrastive", batch_size: int = 16, num_negatives: int = 15, list_size: int = 20,
                 task: str | None = None, shuffle_negatives: bool = False, skip_bad: bool = False,
                 num_workers: int = 0, beir_split: str = "train", seed: int = 0):
        super().__init__()
        self.save_hyperparameters()
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None

    def _load(self, path: str) -> Dataset:
        p = Path(path).expanduser()
        if p.is_dir():
            return ListDataset(beir_examples(p, self.hparams.beir_split))
        return JsonlDataset(p, skip_bad=self.hparams.skip_bad)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        full = self._load(self.hparams.train_file)
        if self.hparams.val_file:
            self.train_set, self.val_set = full, self._load(self.hparams.val_file)
        elif self.hparams.val_fraction > 0:
            order = list(range(len(full)))
            random.Random(self.hparams.seed).shuffle(order)
            n_val = max(1, int(len(full) * self.hparams.val_fraction))
            self.train_set, self.val_set = Subset(full, order[n_val:]), Subset(full, order[:n_val])
        else:
            self.train_set = full

    def _collator(self, shuffle_negatives: bool) -> RetrievalCollator:
        backbone = self.trainer.lightning_module.backbone
        h = self.hparams
        return RetrievalCollator(backbone, h.mode, h.num_negatives, h.list_size, h.task, shuffle_negatives, h.seed)

    def train_dataloader(self) -> DataLoader:
        # Equal batch sizes keep cross-device gathers aligned; tiny sets keep their one short batch.
        drop_last = len(self.train_set) > self.hparams.batch_size
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, shuffle=True, drop_last=drop_last,
                          collate_fn=self._collator(self.hparams.shuffle_negatives),
                          num_workers=self.hparams.num_workers)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_set is None:
            return []
        return DataLoader(self.val_set, batch_size=self.hparams.batch_size, shuffle=False,
                          collate_fn=self._collator(False), num_workers=self.hparams.num_workers)
