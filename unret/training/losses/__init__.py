"""Contrastive and distillation losses for dense retrieval, behind one interface.

- `RetrievalLoss` / `BatchNeeds` / `LossOutput` (``base``): what the training module calls and what a loss
  asks of its batches; `register_loss` / `build_loss` / `LOSSES`: losses by name for configs.
- `InfoNCELoss` (``infonce``, ``loss: infonce``): in-batch + hard-negative contrastive loss, optionally
  gathering documents across ``torch.distributed`` ranks (`gather_with_grad`).
- `ListwiseDistillationLoss` (``listwise``, ``loss: distill``): KL distillation from a teacher's scores
  over a candidate list, plus a small InfoNCE term with false-negative masking (Tamber et al., 2025);
  `normalize_teacher_scores` is the percentile min–max normalisation it uses.
"""

from __future__ import annotations

from unret.training.losses.base import (
    LOSSES,
    MODES,
    BatchNeeds,
    LossOutput,
    RetrievalLoss,
    build_loss,
    register_loss,
)
from unret.training.losses.distributed import gather_with_grad
from unret.training.losses.infonce import InfoNCELoss, InfoNCEOutput
from unret.training.losses.listwise import (
    ListwiseDistillationLoss,
    ListwiseDistillationOutput,
    normalize_teacher_scores,
)

__all__ = [
    "LOSSES",
    "MODES",
    "BatchNeeds",
    "InfoNCELoss",
    "InfoNCEOutput",
    "ListwiseDistillationLoss",
    "ListwiseDistillationOutput",
    "LossOutput",
    "RetrievalLoss",
    "build_loss",
    "gather_with_grad",
    "normalize_teacher_scores",
    "register_loss",
]
