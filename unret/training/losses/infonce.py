"""InfoNCE: the contrastive loss with in-batch and hard negatives, optionally across devices.

All losses take *already L2-normalised* embeddings and compute in at least float32, whatever the input
dtype (with τ = 0.01 the logits reach ±100, where bfloat16 has a resolution of 0.5).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from unret.training.losses.base import BatchNeeds, LossOutput, RetrievalLoss, compute_dtype, register_loss
from unret.training.losses.distributed import distributed_world, gather_no_grad, gather_with_grad


class InfoNCEOutput(NamedTuple):
    """What `InfoNCELoss.compute` returns."""

    loss: Tensor  # () mean over the local queries, differentiable
    accuracy: Tensor  # () fraction of local queries whose own positive scores highest (detached)
    logits: Tensor  # (batch_size, num_documents) scores / τ, masked entries -inf (detached)


@register_loss("infonce")
class InfoNCELoss(RetrievalLoss):
    r"""InfoNCE with in-batch negatives and shared hard negatives (DPR / RepLLaMA / Tevatron).

    For query :math:`q_i` the candidates are every positive in the batch :math:`p_1..p_B` and every
    hard negative in the batch :math:`n_{j,k}` (the negatives of query *j* are candidates for all
    queries, as in Tevatron and sentence-transformers' MultipleNegativesRankingLoss). With
    :math:`s(a, b) = a \cdot b` on L2-normalised vectors:

    .. math::

        \mathcal{L} = \frac{1}{B}\sum_{i=1}^{B} -\log
            \frac{\exp(s(q_i, p_i)/\tau)}
                 {\sum_{j} \exp(s(q_i, p_j)/\tau) + \sum_{j,k:\, m_{j,k}} \exp(s(q_i, n_{j,k})/\tau)}

    where :math:`m_{j,k}` is ``negatives_mask`` (``True`` = real negative, ``False`` = padding that
    is left out of every denominator).

    **Across devices.** With ``gather_across_devices=True`` and an initialised process group, the
    positives and negatives of all ranks are gathered (gradient-preserving) and each rank scores its
    *local* queries against the global document set; the label of local query *i* on rank *r* is
    ``r * B + i``. Positives and negatives are gathered separately and laid out as
    ``[P_rank0, P_rank1, …, N_rank0, N_rank1, …]`` so this offset is right even with hard negatives
    (the trap fixed in sentence-transformers PR #3453, where a per-rank ``[P, N]`` block was gathered
    and labels pointed at other queries' negatives). The loss is the local mean; DDP averages
    gradients across ranks and the gather's backward sums document gradients across ranks, so the
    gradients equal those of one process holding the whole batch, and the mean of the per-rank
    losses equals its loss. All ranks must pass equally shaped tensors (same local batch size and
    number of negatives); ``negatives`` must be given on all ranks or on none.

    Sources: Oord et al. 2018 (InfoNCE); Karpukhin et al. 2020 (DPR, in-batch negatives); Ma et al.
    2023 (RepLLaMA, τ = 0.01); Tevatron ``EncoderModel``; sentence-transformers
    ``MultipleNegativesRankingLoss(gather_across_devices=True)``.

    Example::

        loss_fn = InfoNCELoss(temperature=0.01)
        q = F.normalize(torch.randn(4, 64), dim=-1)  # (batch_size, dim)
        p = F.normalize(torch.randn(4, 64), dim=-1)  # (batch_size, dim)
        n = F.normalize(torch.randn(4, 15, 64), dim=-1)  # (batch_size, num_negatives, dim)
        out = loss_fn.compute(q, p, n)  # out.loss, out.accuracy (for logging)
        loss = loss_fn(q, p, n)  # just the loss
    """

    needs = BatchNeeds("contrastive")

    def __init__(self, temperature: float = 0.01, gather_across_devices: bool = False) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)
        self.gather_across_devices = gather_across_devices

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, gather_across_devices={self.gather_across_devices}"

    def compute(
        self,
        q: Tensor,
        p: Tensor,
        negatives: Tensor | None = None,
        negatives_mask: Tensor | None = None,
    ) -> InfoNCEOutput:
        """Loss, in-batch accuracy and logits; see the class docstring for the shapes."""
        if q.dim() != 2 or p.shape != q.shape:
            raise ValueError(f"q and p must both be (batch_size, dim); got {tuple(q.shape)} and {tuple(p.shape)}")
        batch_size, dim = q.shape
        if negatives is not None:
            if negatives.dim() != 3 or negatives.shape[0] != batch_size or negatives.shape[2] != dim:
                raise ValueError(
                    f"negatives must be (batch_size, num_negatives, dim) = ({batch_size}, N, {dim}); "
                    f"got {tuple(negatives.shape)}"
                )
            if negatives_mask is not None and negatives_mask.shape != negatives.shape[:2]:
                raise ValueError(
                    f"negatives_mask must be {tuple(negatives.shape[:2])}, got {tuple(negatives_mask.shape)}"
                )
        elif negatives_mask is not None:
            raise ValueError("negatives_mask given without negatives")

        dtype = compute_dtype(q, p, *([] if negatives is None else [negatives]))
        rank, world_size = distributed_world()
        use_gather = self.gather_across_devices and world_size > 1

        docs = p  # (batch_size, dim)
        if use_gather:
            docs = gather_with_grad(docs)  # (world_size * batch_size, dim)
        label_offset = rank * batch_size if use_gather else 0

        doc_mask = None  # (num_documents,) bool, True = real candidate
        if negatives is not None:
            num_negatives = negatives.shape[1]
            if negatives_mask is None:
                negatives_mask = torch.ones(batch_size, num_negatives, dtype=torch.bool, device=q.device)
            negatives_mask = negatives_mask.to(device=q.device, dtype=torch.bool)
            if use_gather:
                negatives = gather_with_grad(negatives)  # (world_size * batch_size, N, dim)
                negatives_mask = gather_no_grad(negatives_mask)  # (world_size * batch_size, N)
            flat_negatives = negatives.reshape(-1, dim)  # (global_batch * N, dim)
            docs = torch.cat([docs, flat_negatives], dim=0)  # (global_batch * (1 + N), dim)
            positives_valid = torch.ones(docs.shape[0] - flat_negatives.shape[0], dtype=torch.bool, device=q.device)
            doc_mask = torch.cat([positives_valid, negatives_mask.reshape(-1)])

        scores = q.to(dtype) @ docs.to(dtype).T  # (batch_size, num_documents)
        logits = scores / self.temperature
        if doc_mask is not None:
            logits = logits.masked_fill(~doc_mask.unsqueeze(0), float("-inf"))
        labels = torch.arange(batch_size, device=q.device) + label_offset  # (batch_size,)
        loss = F.cross_entropy(logits, labels)
        with torch.no_grad():
            accuracy = (logits.argmax(dim=1) == labels).to(dtype).mean()
        return InfoNCEOutput(loss=loss, accuracy=accuracy, logits=logits.detach())

    def forward(
        self,
        q: Tensor,
        p: Tensor,
        negatives: Tensor | None = None,
        negatives_mask: Tensor | None = None,
    ) -> Tensor:
        """The scalar loss; use `compute` to also get the in-batch accuracy."""
        return self.compute(q, p, negatives, negatives_mask).loss

    def batch_loss(self, q: Tensor, docs: Tensor, mask: Tensor, batch: dict[str, Any]) -> LossOutput:
        """Slot 0 is each query's positive, the other filled slots its hard negatives."""
        has_negatives = docs.shape[1] > 1
        out = self.compute(q, docs[:, 0], docs[:, 1:] if has_negatives else None,
                           mask[:, 1:] if has_negatives else None)
        return LossOutput(out.loss, {"accuracy": out.accuracy})
