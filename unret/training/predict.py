"""Corpus encoding at scale: ``Trainer.predict`` with a writer that produces embedding shards.

Multi-GPU or multi-node encoding is then a ``devices=`` / ``num_nodes=`` / ``strategy=`` change, as for
training: each rank encodes its share of the corpus and writes ``shard-r{rank}-{n}.npz`` files (ids,
dataset positions, float32 vectors); `read_shards` merges them back in corpus order (dropping the
duplicates a distributed sampler pads with) and `ingest_shards` adds them to a ``VectorIndex``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader, Dataset

from unret.atomic import atomic_open
from unret.backbones import Backbone, load_backbone
from unret.items import Item, to_item


class ItemDataset(Dataset):
    """(position, item) pairs; positions let shards be merged back in corpus order."""

    def __init__(self, inputs: Sequence[Any]):
        self.items = [to_item(x, i) for i, x in enumerate(inputs)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[int, Item]:
        return i, self.items[i]


class EncodeModule(L.LightningModule):
    """A backbone in inference mode for ``Trainer.predict``."""

    def __init__(self, model: str | Backbone, role: str = "document", task: str | None = None,
                 **backbone_kwargs: Any):
        super().__init__()
        self.backbone = model if isinstance(model, Backbone) else load_backbone(model, **backbone_kwargs)
        self.role, self.task = role, task

    def collate(self, batch: list[tuple[int, Item]]) -> dict[str, Any]:
        positions = [i for i, _ in batch]
        return {"positions": torch.tensor(positions),
                "inputs": self.backbone.prepare([item for _, item in batch], role=self.role, task=self.task,
                                                positions=positions)}

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, torch.Tensor]:
        return {"positions": batch["positions"], "vectors": self.backbone(**batch["inputs"]).float()}


class EmbeddingShardWriter(BasePredictionWriter):
    """Writes each rank's vectors to ``out_dir`` every ``shard_size`` vectors (and at the end)."""

    def __init__(self, out_dir: str | Path, ids: Sequence[str], shard_size: int = 65536):
        super().__init__(write_interval="batch")
        self.out_dir, self.ids, self.shard_size = Path(out_dir), list(ids), shard_size
        self._positions: list[torch.Tensor] = []
        self._vectors: list[torch.Tensor] = []
        self._count = 0
        self._shard = 0

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx,
                           dataloader_idx=0) -> None:
        self._positions.append(prediction["positions"].cpu())
        self._vectors.append(prediction["vectors"].cpu())
        self._count += len(prediction["positions"])
        if self._count >= self.shard_size:
            self._flush(trainer.global_rank)

    def on_predict_epoch_end(self, trainer, pl_module) -> None:
        self._flush(trainer.global_rank)

    def _flush(self, rank: int) -> None:
        if not self._positions:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        positions = torch.cat(self._positions).numpy()
        file = self.out_dir / f"shard-r{rank:04d}-{self._shard:05d}.npz"
        with atomic_open(file, "wb") as f:  # read_shards never sees half a shard
            np.savez(f, positions=positions, ids=np.array([self.ids[p] for p in positions]),
                     vectors=torch.cat(self._vectors).numpy())
        self._positions, self._vectors, self._count = [], [], 0
        self._shard += 1


def read_shards(out_dir: str | Path) -> tuple[list[str], np.ndarray]:
    """All shards of ``out_dir`` merged in corpus order: (ids, vectors (N, dim))."""
    files = sorted(Path(out_dir).glob("shard-r*.npz"))
    if not files:
        raise FileNotFoundError(f"no embedding shards in {out_dir}")
    positions, ids, vectors = [], [], []
    for file in files:
        with np.load(file) as shard:
            positions.append(shard["positions"])
            ids.append(shard["ids"])
            vectors.append(shard["vectors"])
    pos = np.concatenate(positions)
    order = np.argsort(pos, kind="stable")
    keep = order[np.concatenate([[True], np.diff(pos[order]) != 0])]  # padded duplicates dropped
    return np.concatenate(ids)[keep].tolist(), np.concatenate(vectors)[keep]


def encode_to_shards(model: str | Backbone, inputs: Sequence[Any], ids: Sequence[str], out_dir: str | Path,
                     batch_size: int = 16, role: str = "document", task: str | None = None,
                     shard_size: int = 65536, num_workers: int = 0, **trainer_kwargs: Any) -> Path:
    """Encode ``inputs`` with ``Trainer.predict`` (``trainer_kwargs``: devices, num_nodes, strategy…)."""
    if len(ids) != len(inputs):
        raise ValueError(f"got {len(inputs)} inputs but {len(ids)} ids")
    module = EncodeModule(model, role=role, task=task)
    loader = DataLoader(ItemDataset(inputs), batch_size=batch_size, collate_fn=module.collate,
                        num_workers=num_workers)
    trainer = L.Trainer(callbacks=[EmbeddingShardWriter(out_dir, ids, shard_size)], logger=False,
                        enable_progress_bar=trainer_kwargs.pop("enable_progress_bar", True), **trainer_kwargs)
    trainer.predict(module, loader, return_predictions=False)
    return Path(out_dir)


def ingest_shards(index, out_dir: str | Path, modalities: Sequence[str] | str,
                  metadata: Sequence[dict] | None = None) -> int:
    """Add the vectors of ``out_dir``'s shards to a ``VectorIndex``; returns how many."""
    ids, vectors = read_shards(out_dir)
    index.add(ids, vectors, modalities, metadata)
    return len(ids)
