"""Training data: JSONL and BEIR-format datasets, the collator, and a LightningDataModule.

JSONL format, one example per line (paths relative to the file's folder)::

    {"query": "parse a url",                                   # text, or an item object below
     "positives": ["def parse_url(u): ...", ...],              # at least one
     "negatives": [{"code": "def f(): ...", "language": "python"}, {"image": "img/cat.png", "text": "a cat"}],
     "teacher_scores": [0.93, 0.12, 0.05]}                     # optional: one per positive, then negative

An item is a string (text) or a record as in BEIR files (`unret.formats.records`): ``{"text": ...}``,
``{"code": ..., "language": ...}`` or ``{"image": path, "text": optional caption}``. A bad record raises
``DataFormatError`` (also known as ``DataError``) naming file and line, or with ``skip_bad=True`` is
skipped and counted (``dataset.skipped``).

The collator reuses the backbone's own ``prepare`` (prompts, tokenisation, image processing), so training
sees exactly the inputs inference sees.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from unret.errors import ConfigError, DataFormatError
from unret.formats import RecordError, load_beir, spec_from_record
from unret.formats.records import jsonl_lines, parse_json_line
from unret.items import InputError, Item, to_item
from unret.training.losses import MODES, BatchNeeds, RetrievalLoss

log = logging.getLogger(__name__)


DataError = DataFormatError  # the name training code used before the error family was merged


@dataclass
class Example:
    """One training query with its positives, negatives and (optionally) teacher scores."""

    query: Item
    positives: list[Item]
    negatives: list[Item] = field(default_factory=list)
    teacher_scores: list[float] | None = None  # aligned with positives + negatives
    where: tuple[str, int | None] | None = field(default=None, repr=False)  # (file, line) it was read from


def _item(record: Any, base: Path, fail: Callable[[str], DataFormatError], field_name: str) -> Item:
    """One record (a string is text; image paths relative to ``base``) as an ``Item``."""
    try:
        return to_item(spec_from_record(record, base, strict=True))
    except RecordError as exc:
        raise fail(f"{field_name}: {exc}") from None
    except InputError as exc:
        raise fail(f"{field_name}: {str(exc).split(': ', 1)[-1]}") from None


def parse_example(record: Any, base: Path, path: str | Path, line: int | None = None) -> Example:
    """Validate one JSON record into an `Example`; errors are `DataFormatError` naming ``path:line``."""
    def fail(message: str) -> DataFormatError:
        return DataFormatError(path, line, message)

    if not isinstance(record, dict):
        raise fail(f"a record must be a JSON object, got {type(record).__name__}")
    unknown = set(record) - {"query", "positives", "negatives", "teacher_scores", "id", "query_id"}
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)}")
    if "query" not in record:
        raise fail("missing 'query'")
    query = _item(record["query"], base, fail, "query")
    positives, negatives = record.get("positives"), record.get("negatives", [])
    if not isinstance(positives, list) or not positives:
        raise fail("'positives' must be a non-empty list")
    if not isinstance(negatives, list):
        raise fail("'negatives' must be a list")
    pos = [_item(s, base, fail, f"positives[{i}]") for i, s in enumerate(positives)]
    neg = [_item(s, base, fail, f"negatives[{i}]") for i, s in enumerate(negatives)]
    scores = record.get("teacher_scores")
    if scores is not None:
        if not isinstance(scores, list) or not all(isinstance(s, (int, float)) for s in scores):
            raise fail("'teacher_scores' must be a list of numbers")
        if len(scores) != len(pos) + len(neg):
            raise fail(f"{len(scores)} teacher_scores for {len(pos) + len(neg)} candidates "
                       "(one per positive, then per negative)")
        scores = [float(s) for s in scores]
    return Example(query, pos, neg, scores, where=(str(path), line))


class JsonlDataset(Dataset):
    """Examples from a JSONL file, validated on load so errors surface before training starts."""

    def __init__(self, path: str | Path, skip_bad: bool = False):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"training data not found: {self.path}")
        self.examples: list[Example] = []
        self.skipped = 0
        base = self.path.parent
        for number, line in jsonl_lines(self.path):
            try:
                record = parse_json_line(self.path, number, line)
                self.examples.append(parse_example(record, base, self.path, number))
            except DataFormatError as exc:
                if not skip_bad:
                    raise
                self.skipped += 1
                log.warning("skipping %s", exc)
        if self.skipped:
            log.warning("%s: skipped %d bad records", self.path, self.skipped)
        if not self.examples:
            raise DataFormatError(self.path, None, "no usable examples")

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> Example:
        return self.examples[i]


def beir_examples(folder: str | Path, split: str = "train") -> list[Example]:
    """Examples from a BEIR folder: each query's qrels with score > 0 are its positives."""
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


def _needs(mode: str | BatchNeeds) -> BatchNeeds:
    if isinstance(mode, BatchNeeds):
        return mode
    if mode not in MODES:
        raise ValueError(f"mode must be one of {sorted(MODES)} or a BatchNeeds, got {mode!r}")
    return MODES[mode]


class RetrievalCollator:
    """Batches examples into backbone inputs, laid out as the loss declares (`BatchNeeds`).

    ``layout="contrastive"`` (``mode="contrastive"``): each query gets one positive (the first) and up to
    ``num_negatives`` hard negatives. ``layout="list"`` (``mode="distill"``, with teacher scores): each
    query gets its candidate list (positives then negatives, at most ``list_size``). Documents are
    prepared once, flat; ``doc_index`` (batch, slots) says which flat row fills each slot (-1: empty), so
    ragged lists cost no padding compute.
    """

    def __init__(self, backbone, mode: str | BatchNeeds = "contrastive", num_negatives: int = 15,
                 list_size: int = 20, task: str | None = None, shuffle_negatives: bool = False, seed: int = 0):
        self.backbone, self.needs = backbone, _needs(mode)
        self.num_negatives, self.list_size, self.task = num_negatives, list_size, task
        self.shuffle_negatives = shuffle_negatives
        self.rng = random.Random(seed)

    def _slots(self, ex: Example) -> tuple[list[Item], list[float] | None]:
        scores = None
        if self.needs.teacher_scores:
            if ex.teacher_scores is None:
                path, line = ex.where or ("training data", None)
                raise DataFormatError(path, line, "this loss needs 'teacher_scores' in every record "
                                                  "(`unret mine --teacher` writes them)")
            scores = ex.teacher_scores
        if self.needs.layout == "list":
            docs = (ex.positives + ex.negatives)[: self.list_size]
            return docs, None if scores is None else scores[: len(docs)]
        negatives = list(ex.negatives)
        if self.shuffle_negatives:  # teacher scores, if any, stay with their documents
            order = list(range(len(negatives)))
            self.rng.shuffle(order)
            negatives = [negatives[i] for i in order]
            if scores is not None:
                scores = [scores[0]] + [scores[len(ex.positives) + i] for i in order]
        elif scores is not None:
            scores = [scores[0], *scores[len(ex.positives):]]
        docs = [ex.positives[0], *negatives[: self.num_negatives]]
        return docs, None if scores is None else scores[: len(docs)]

    def __call__(self, examples: Sequence[Example]) -> dict[str, Any]:
        contrastive = self.needs.layout == "contrastive"
        width = 1 + self.num_negatives if contrastive else self.list_size
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
        used = width if contrastive else int((doc_index >= 0).sum(1).max())
        batch = {
            "query": self.backbone.prepare([ex.query for ex in examples], role="query", task=self.task),
            "docs": self.backbone.prepare(flat, role="document"),
            "doc_index": doc_index[:, :used],
        }
        if self.needs.teacher_scores:
            batch["teacher_scores"] = teacher[:, :used]
        return batch


class RetrievalDataModule(L.LightningDataModule):
    """Train/val dataloaders over a JSONL file or a BEIR folder; collates with the module's backbone.

    Args:
        train_file: JSONL file (format in the module docstring) or a BEIR folder.
        val_file: optional held-out JSONL/BEIR data; else ``val_fraction`` of the training examples.
        mode: leave unset: the module's loss declares the batch layout it needs (`BatchNeeds`). Older
            configs' ``contrastive`` / ``distill`` are still read, and must agree with the loss.
    """

    def __init__(self, train_file: str, val_file: str | None = None, val_fraction: float = 0.0,
                 mode: str | None = None, batch_size: int = 16, num_negatives: int = 15, list_size: int = 20,
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

    def needs(self) -> BatchNeeds:
        """The batch layout: what the training module's loss declares (``mode`` must agree with it)."""
        trainer = self.trainer  # None outside a Trainer
        loss = getattr(trainer.lightning_module, "loss", None) if trainer is not None else None
        declared = loss.needs if isinstance(loss, RetrievalLoss) else None
        if self.hparams.mode is None:
            return declared or MODES["contrastive"]
        given = _needs(self.hparams.mode)
        if declared is not None and given != declared:
            raise ConfigError(
                f"data.mode={self.hparams.mode!r} does not fit model.loss ({type(loss).__name__} needs {declared}); "
                "remove data.mode: the loss decides how batches are laid out")
        return given

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        needs = self.needs()  # a loss/data mismatch fails here, before any data is read
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
        if needs.teacher_scores:  # refuse before training starts, naming the first record without them
            for data in (self.train_set, self.val_set):
                for ex in data if data is not None else ():
                    if ex.teacher_scores is None:
                        path, line = ex.where or (self.hparams.train_file, None)
                        raise DataFormatError(path, line, "the loss needs 'teacher_scores' in every record "
                                                          "(`unret mine --teacher` writes them)")

    def _collator(self, shuffle_negatives: bool) -> RetrievalCollator:
        backbone = self.trainer.lightning_module.backbone
        h = self.hparams
        return RetrievalCollator(backbone, self.needs(), h.num_negatives, h.list_size, h.task, shuffle_negatives,
                                 h.seed)

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
