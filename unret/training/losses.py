"""Contrastive and distillation losses for dense retrieval.

All losses take *already L2-normalised* embeddings (or scores computed from them) and compute in at
least float32, whatever the input dtype (with τ = 0.01 the logits reach ±100, where bfloat16 has a
resolution of 0.5).

- `InfoNCELoss`: in-batch + hard-negative contrastive loss, optionally gathering documents
  across ``torch.distributed`` ranks.
- `ListwiseDistillationLoss`: KL distillation from a teacher's scores over a candidate list,
  plus a small InfoNCE term with false-negative masking (Tamber et al., 2025).
- `normalize_teacher_scores`: the percentile min–max normalisation used by the latter.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "InfoNCELoss",
    "InfoNCEOutput",
    "ListwiseDistillationLoss",
    "ListwiseDistillationOutput",
    "gather_with_grad",
    "normalize_teacher_scores",
]


def _compute_dtype(*tensors: Tensor) -> torch.dtype:
    """At least float32; float64 stays float64."""
    dtype = torch.float32
    for t in tensors:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype


# --------------------------------------------------------------------------------------------------
# Cross-device gather
# --------------------------------------------------------------------------------------------------


class _AllGatherWithGrad(torch.autograd.Function):
    """``all_gather`` along dim 0 whose backward hands every rank the *sum* of all ranks' gradients
    for its own slice (the adjoint of all_gather is reduce-scatter with SUM).

    Written out instead of ``torch.distributed.nn.functional.all_gather`` because that function is
    deprecated (FutureWarning on every call) in the torch this project targets; the semantics are
    the same. Backward uses ``all_reduce`` + slicing, which every backend (gloo included) supports.
    """

    @staticmethod
    def forward(ctx, tensor: Tensor, group: dist.ProcessGroup | None) -> Tensor:  # type: ignore[override]
        world_size = dist.get_world_size(group)
        ctx.group = group
        ctx.rank = dist.get_rank(group)
        ctx.local_size = tensor.shape[0]
        chunks = [torch.empty_like(tensor) for _ in range(world_size)]
        dist.all_gather(chunks, tensor.contiguous(), group=group)
        return torch.cat(chunks, dim=0)  # (world_size * local_size, ...)

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        grad = grad_output.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM, group=ctx.group)
        start = ctx.rank * ctx.local_size
        return grad[start : start + ctx.local_size], None


def gather_with_grad(tensor: Tensor, group: dist.ProcessGroup | None = None) -> Tensor:
    """Concatenate ``tensor`` from all ranks along dim 0, keeping gradients (rank order).

    Every rank must pass a tensor of the same shape. Without an initialised process group (or with
    one rank) the tensor is returned unchanged. Gradient convention: each rank receives the sum
    over ranks of the gradient for its own slice; together with DDP's gradient *averaging* this
    yields exactly the gradient of the mean of the per-rank losses (see `InfoNCELoss`).
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size(group) == 1:
        return tensor
    return _AllGatherWithGrad.apply(tensor, group)


def _gather_no_grad(tensor: Tensor, group: dist.ProcessGroup | None = None) -> Tensor:
    chunks = [torch.empty_like(tensor) for _ in range(dist.get_world_size(group))]
    dist.all_gather(chunks, tensor.contiguous(), group=group)
    return torch.cat(chunks, dim=0)


def _distributed_world(group: dist.ProcessGroup | None = None) -> tuple[int, int]:
    """(rank, world_size), or (0, 1) when torch.distributed is not in use."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(group), dist.get_world_size(group)
    return 0, 1


# --------------------------------------------------------------------------------------------------
# InfoNCE
# --------------------------------------------------------------------------------------------------


class InfoNCEOutput(NamedTuple):
    """What `InfoNCELoss.compute` returns."""

    loss: Tensor  # () mean over the local queries, differentiable
    accuracy: Tensor  # () fraction of local queries whose own positive scores highest (detached)
    logits: Tensor  # (batch_size, num_documents) scores / τ, masked entries -inf (detached)


class InfoNCELoss(nn.Module):
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

        dtype = _compute_dtype(q, p, *([] if negatives is None else [negatives]))
        rank, world_size = _distributed_world()
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
                negatives_mask = _gather_no_grad(negatives_mask)  # (world_size * batch_size, N)
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


# --------------------------------------------------------------------------------------------------
# Listwise distillation
# --------------------------------------------------------------------------------------------------


@torch.no_grad()
def normalize_teacher_scores(
    scores: Tensor,
    mask: Tensor | None = None,
    lower_quantile: float = 0.01,
    upper_quantile: float = 0.99,
    score_range: tuple[float, float] | None = None,
) -> Tensor:
    """Min–max normalise teacher scores per query with percentile bounds, clipped to ``[0, 1]``.

    For each row, ``lo``/``hi`` are the ``lower_quantile``/``upper_quantile`` quantiles of that
    row's *valid* scores (linear interpolation, i.e. ``numpy.percentile``'s default) and the result
    is ``clip((s - lo) / (hi - lo), 0, 1)``. With ``score_range=(lo, hi)`` fixed bounds are used for
    every row instead (dataset-level normalisation, as in the authors' released scripts, which take
    the 1st/99th percentiles over all scores of a dataset).

    Degenerate rows: if ``hi == lo`` (a constant list, or a single valid candidate) every valid entry
    becomes ``1.0`` — all candidates tie with the top, so none of them is treated as a negative.
    Masked entries (and rows without any valid entry) are ``0.0``. Never NaN for finite inputs.

    Args:
        scores: ``(batch_size, num_candidates)`` teacher scores.
        mask: ``(batch_size, num_candidates)`` bool, ``True`` = valid candidate; ``None`` = all valid.
    """
    dtype = _compute_dtype(scores)
    scores = scores.detach().to(dtype)  # (batch_size, num_candidates)
    if mask is None:
        mask = torch.ones_like(scores, dtype=torch.bool)
    mask = mask.to(device=scores.device, dtype=torch.bool)
    if score_range is not None:
        lo = torch.full_like(scores[:, :1], float(score_range[0]))  # (batch_size, 1)
        hi = torch.full_like(scores[:, :1], float(score_range[1]))  # (batch_size, 1)
    else:
        with_nan = scores.masked_fill(~mask, float("nan"))
        bounds = torch.tensor([lower_quantile, upper_quantile], dtype=dtype, device=scores.device)
        lo, hi = torch.nanquantile(with_nan, bounds, dim=1, keepdim=True)  # each (batch_size, 1)
    span = hi - lo
    degenerate = ~(span > 0)  # also True for NaN bounds (rows without valid entries)
    normalized = ((scores - lo) / torch.where(degenerate, torch.ones_like(span), span)).clamp(0.0, 1.0)
    normalized = torch.where(degenerate, torch.ones_like(normalized), normalized)
    return normalized.masked_fill(~mask, 0.0)


class ListwiseDistillationOutput(NamedTuple):
    """What `ListwiseDistillationLoss.compute` returns (components detached for logging)."""

    loss: Tensor  # () kl + infonce_weight * infonce, differentiable
    kl: Tensor  # () listwise KL term
    infonce: Tensor  # () InfoNCE term (before weighting)
    normalized_teacher_scores: Tensor  # (batch_size, num_candidates) the teacher scores as used


class ListwiseDistillationLoss(nn.Module):
    r"""Listwise KL distillation from a teacher (e.g. a cross-encoder) plus a de-noised InfoNCE term.

    Tamber, Kazi, Sourabh & Lin, 2025, "Teaching Dense Retrieval Models to Specialize with Listwise
    Distillation and LLM Data Augmentation" (arXiv:2502.19712; code:
    github.com/manveertamber/enhancing_domain_adaptation).

    Per query *i* a list of candidates with student scores :math:`s_{i,\cdot}` (:math:`q \cdot p`
    on normalised vectors) and teacher scores :math:`t_{i,\cdot}`; :math:`V_i` is the set of valid
    (unmasked) candidates and :math:`\hat t` the normalised teacher scores
    (`normalize_teacher_scores`, when ``normalize_teacher``):

    .. math::

        P^T_i = \mathrm{softmax}_{V_i}(\hat t_{i}/\tau_t), \quad
        P^S_i = \mathrm{softmax}_{V_i}(s_{i}/\tau_s), \quad
        \mathcal{L}_{list} = \frac{1}{|Q|}\sum_{i\in Q} \sum_{c\in V_i} P^T_{i,c}
            \left(\log P^T_{i,c} - \log P^S_{i,c}\right)

    .. math::

        \mathcal{L}_{nce} = \frac{1}{|Q|}\sum_{i\in Q} -\log
            \frac{\exp(s_{i,c^*_i}/\tau_c)}{\sum_{c \in V_i \setminus F_i} \exp(s_{i,c}/\tau_c)},
        \quad c^*_i = \arg\max_{c\in V_i} t_{i,c},
        \quad F_i = \{c \ne c^*_i : \hat t_{i,c} > r \cdot \hat t_{i,c^*_i}\}

    .. math::

        \mathcal{L} = \mathcal{L}_{list} + w \cdot \mathcal{L}_{nce}

    with :math:`\tau_t` = ``teacher_temperature`` (0.3), :math:`\tau_s` = ``student_temperature``
    (0.05), :math:`w` = ``infonce_weight`` (0.1), :math:`\tau_c` = ``infonce_temperature`` (0.01),
    :math:`r` = ``false_negative_ratio`` (0.6), :math:`F_i` the likely false negatives, and
    :math:`Q` the queries with at least one valid candidate (others contribute nothing).
    ``single_temperature=τ`` uses :math:`\tau_t = \tau_s = \tau` (Tevatron-style distillation).

    Notes:
        - The false-negative rule ``t̂ > r · t̂_top`` assumes non-negative scores; it is meant for the
          normalised scores in ``[0, 1]``. With ``normalize_teacher=False`` pass scores on such a
          scale (e.g. probabilities).
        - Per-query percentile normalisation maps every non-degenerate list onto ``[0, 1]`` with the
          top at 1. The authors' scripts normalise with dataset-level percentiles instead; pass
          ``teacher_score_range=(p1, p99)`` computed over your training set to reproduce that.
        - The paper's contrastive term also uses other queries' lists as in-batch negatives; this
          loss keeps to each query's own list (use `InfoNCELoss` for in-batch training).

    Example::

        loss_fn = ListwiseDistillationLoss()
        q = F.normalize(torch.randn(4, 64), dim=-1)  # (batch_size, dim)
        docs = F.normalize(torch.randn(4, 20, 64), dim=-1)  # (batch_size, num_candidates, dim)
        student = torch.einsum("bd,bld->bl", q, docs)  # (batch_size, num_candidates)
        teacher = torch.randn(4, 20)  # cross-encoder scores, (batch_size, num_candidates)
        out = loss_fn.compute(student, teacher)  # out.loss, out.kl, out.infonce
    """

    def __init__(
        self,
        teacher_temperature: float = 0.3,
        student_temperature: float = 0.05,
        infonce_weight: float = 0.1,
        infonce_temperature: float = 0.01,
        false_negative_ratio: float = 0.6,
        normalize_teacher: bool = True,
        single_temperature: float | None = None,
        teacher_score_range: tuple[float, float] | None = None,
    ) -> None:
        super().__init__()
        if single_temperature is not None:
            teacher_temperature = student_temperature = single_temperature
        for name, value in [
            ("teacher_temperature", teacher_temperature),
            ("student_temperature", student_temperature),
            ("infonce_temperature", infonce_temperature),
        ]:
            if value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if infonce_weight < 0:
            raise ValueError(f"infonce_weight must be >= 0, got {infonce_weight}")
        self.teacher_temperature = float(teacher_temperature)
        self.student_temperature = float(student_temperature)
        self.infonce_weight = float(infonce_weight)
        self.infonce_temperature = float(infonce_temperature)
        self.false_negative_ratio = float(false_negative_ratio)
        self.normalize_teacher = normalize_teacher
        self.single_temperature = single_temperature
        self.teacher_score_range = teacher_score_range

    def extra_repr(self) -> str:
        return (
            f"teacher_temperature={self.teacher_temperature}, "
            f"student_temperature={self.student_temperature}, "
            f"infonce_weight={self.infonce_weight}, infonce_temperature={self.infonce_temperature}, "
            f"false_negative_ratio={self.false_negative_ratio}, normalize_teacher={self.normalize_teacher}"
        )

    def compute(
        self,
        student_scores: Tensor,
        teacher_scores: Tensor,
        mask: Tensor | None = None,
    ) -> ListwiseDistillationOutput:
        """Total loss and its components; see the class docstring for the formula."""
        if student_scores.dim() != 2 or teacher_scores.shape != student_scores.shape:
            raise ValueError(
                "student_scores and teacher_scores must both be (batch_size, num_candidates); got "
                f"{tuple(student_scores.shape)} and {tuple(teacher_scores.shape)}"
            )
        if mask is None:
            mask = torch.ones_like(student_scores, dtype=torch.bool)
        elif mask.shape != student_scores.shape:
            raise ValueError(f"mask must be {tuple(student_scores.shape)}, got {tuple(mask.shape)}")
        mask = mask.to(device=student_scores.device, dtype=torch.bool)  # (batch_size, num_candidates)
        dtype = _compute_dtype(student_scores, teacher_scores)
        student = student_scores.to(dtype)  # (batch_size, num_candidates)
        teacher = teacher_scores.detach().to(device=student.device, dtype=dtype)

        if self.normalize_teacher:
            teacher_used = normalize_teacher_scores(teacher, mask, score_range=self.teacher_score_range)
        else:
            teacher_used = teacher.masked_fill(~mask, 0.0)

        row_valid = mask.any(dim=1)  # (batch_size,)
        num_rows = row_valid.sum().clamp(min=1).to(dtype)
        # Rows without any valid candidate get an all-valid dummy mask so that log_softmax sees no
        # all -inf row (NaN); their contribution is zeroed below.
        safe_mask = mask | ~row_valid.unsqueeze(1)  # (batch_size, num_candidates)

        # Listwise KL(P_teacher || P_student) over the valid candidates.
        log_p_teacher = _masked_log_softmax(teacher_used / self.teacher_temperature, safe_mask)
        log_p_student = _masked_log_softmax(student / self.student_temperature, safe_mask)
        p_teacher = log_p_teacher.exp()  # 0 where masked
        # Masked log-probabilities are -inf; replace them before subtracting so that neither the
        # forward (-inf - -inf) nor the backward (0 * inf) ever sees a NaN.
        log_ratio = log_p_teacher.masked_fill(~safe_mask, 0.0) - log_p_student.masked_fill(~safe_mask, 0.0)
        pointwise = p_teacher * log_ratio  # (batch_size, num_candidates)
        kl_per_row = pointwise.sum(dim=1) * row_valid  # (batch_size,)
        kl = kl_per_row.sum() / num_rows

        # InfoNCE with the teacher's top-1 as positive and likely false negatives removed.
        top = teacher.masked_fill(~safe_mask, float("-inf")).argmax(dim=1)  # (batch_size,)
        top_score = teacher_used.gather(1, top.unsqueeze(1))  # (batch_size, 1)
        false_negative = teacher_used > self.false_negative_ratio * top_score  # (batch_size, num_candidates)
        is_top = torch.zeros_like(mask).scatter_(1, top.unsqueeze(1), True)
        nce_mask = (safe_mask & ~false_negative) | is_top
        log_p_nce = _masked_log_softmax(student / self.infonce_temperature, nce_mask)
        nce_per_row = -log_p_nce.gather(1, top.unsqueeze(1)).squeeze(1) * row_valid  # (batch_size,)
        infonce = nce_per_row.sum() / num_rows

        loss = kl + self.infonce_weight * infonce
        return ListwiseDistillationOutput(
            loss=loss, kl=kl.detach(), infonce=infonce.detach(), normalized_teacher_scores=teacher_used
        )

    def forward(self, student_scores: Tensor, teacher_scores: Tensor, mask: Tensor | None = None) -> Tensor:
        """The scalar loss; use `compute` to also get its components."""
        return self.compute(student_scores, teacher_scores, mask).loss


def _masked_log_softmax(logits: Tensor, mask: Tensor) -> Tensor:
    """log_softmax over the ``True`` entries; ``-inf`` elsewhere. Every row needs one ``True``."""
    return torch.log_softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)
