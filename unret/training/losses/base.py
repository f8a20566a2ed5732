"""The loss interface: what the LightningModule calls, and what a loss tells the data side it needs.

A retrieval loss gets the step's embeddings in one layout — queries ``q`` (B, D), each query's candidate
documents ``docs`` (B, S, D) and which slots are filled, ``mask`` (B, S) — plus the collated batch for
anything else it declared (teacher scores). It returns the loss and named metrics to log. Its
`BatchNeeds` tell the collator how to fill the slots, so choosing a loss chooses the data layout: there
is no second setting to keep in step with it.

Adding a loss: subclass `RetrievalLoss`, set ``needs``, implement `batch_loss`, and register it under a
name with `register_loss` (or pass an instance as ``RetrieverModule(loss=...)``).
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple

import torch
from torch import Tensor, nn


def compute_dtype(*tensors: Tensor) -> torch.dtype:
    """At least float32; float64 stays float64 (with τ = 0.01 logits reach ±100, past bfloat16's resolution)."""
    dtype = torch.float32
    for t in tensors:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype


@dataclass(frozen=True)
class BatchNeeds:
    """What a loss reads from a batch.

    ``layout="contrastive"``: slot 0 holds the query's first positive, the next slots up to
    ``num_negatives`` hard negatives, at a fixed width (under DDP every rank gathers equal shapes).
    ``layout="list"``: the query's candidate list, positives then negatives, at most ``list_size``.
    ``teacher_scores``: the batch carries ``teacher_scores`` (B, S) aligned with the slots; every
    training record must then have them.
    """

    layout: Literal["contrastive", "list"] = "contrastive"
    teacher_scores: bool = False

    def __post_init__(self) -> None:
        if self.layout not in ("contrastive", "list"):
            raise ValueError(f"layout must be 'contrastive' or 'list', got {self.layout!r}")


#: The data ``mode`` names of earlier releases, as needs.
MODES: dict[str, BatchNeeds] = {"contrastive": BatchNeeds("contrastive"),
                                "distill": BatchNeeds("list", teacher_scores=True)}


class LossOutput(NamedTuple):
    """A step's loss (differentiable) and detached metrics, logged as ``{stage}/{name}``."""

    loss: Tensor
    metrics: dict[str, Tensor]


class RetrievalLoss(nn.Module, ABC):
    """A loss the training module can call without knowing which one it is."""

    #: how the collator lays out each batch for this loss
    needs: ClassVar[BatchNeeds] = BatchNeeds()

    @abstractmethod
    def batch_loss(self, q: Tensor, docs: Tensor, mask: Tensor, batch: dict[str, Any]) -> LossOutput:
        """The loss of one step: ``q`` (B, D), ``docs`` (B, S, D) (zeros where empty), ``mask`` (B, S)."""


LOSSES: dict[str, type[RetrievalLoss]] = {}


def register_loss(name: str) -> Callable[[type[RetrievalLoss]], type[RetrievalLoss]]:
    """Class decorator: make a loss available as ``model.loss: NAME`` in configs."""
    def register(cls: type[RetrievalLoss]) -> type[RetrievalLoss]:
        if name in LOSSES and LOSSES[name] is not cls:
            raise ValueError(f"a loss named {name!r} is already registered ({LOSSES[name].__name__})")
        LOSSES[name] = cls
        return cls

    return register


def build_loss(loss: str | RetrievalLoss, **settings: Any) -> RetrievalLoss:
    """A registered loss by name, given the ``settings`` its constructor takes (others are ignored).

    The module passes every loss setting it has (temperatures, weights); each loss picks its own.
    An instance passes through unchanged.
    """
    if isinstance(loss, RetrievalLoss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {sorted(LOSSES)} or pass a RetrievalLoss")
    cls = LOSSES[loss]
    accepted = inspect.signature(cls.__init__).parameters
    return cls(**{k: v for k, v in settings.items() if k in accepted})
