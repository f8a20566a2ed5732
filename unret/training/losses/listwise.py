"""Listwise distillation from a teacher's scores (Tamber et al., 2025), and its score normalisation."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from unret.training.losses.base import BatchNeeds, LossOutput, RetrievalLoss, compute_dtype, register_loss


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
    dtype = compute_dtype(scores)
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


@register_loss("distill")
class ListwiseDistillationLoss(RetrievalLoss):
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

    needs = BatchNeeds("list", teacher_scores=True)

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
        dtype = compute_dtype(student_scores, teacher_scores)
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

    def batch_loss(self, q: Tensor, docs: Tensor, mask: Tensor, batch: dict[str, Any]) -> LossOutput:
        """Student scores ``q · doc`` over each query's candidate list against ``batch["teacher_scores"]``.

        The accuracy is how often the student's top candidate is the teacher's.
        """
        teacher = batch["teacher_scores"]  # (batch_size, slots)
        scores = torch.einsum("bd,bsd->bs", q.float(), docs.float())  # (batch_size, slots)
        out = self.compute(scores, teacher, mask)
        teacher_top = teacher.masked_fill(~mask, float("-inf")).argmax(1)
        accuracy = (scores.masked_fill(~mask, float("-inf")).argmax(1) == teacher_top).float().mean()
        return LossOutput(out.loss, {"accuracy": accuracy.detach(), "kl": out.kl})


def _masked_log_softmax(logits: Tensor, mask: Tensor) -> Tensor:
    """log_softmax over the ``True`` entries; ``-inf`` elsewhere. Every row needs one ``True``."""
    return torch.log_softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)
