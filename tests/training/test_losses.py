"""Tests for unret.training.losses against independent reference computations.

The references below are written with explicit Python loops over candidates, ``math`` / ``numpy``
in float64 and a hand-written log-sum-exp — deliberately not the vectorised torch code under test.
"""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from unret.training.losses import (
    InfoNCELoss,
    ListwiseDistillationLoss,
    normalize_teacher_scores,
)

pytestmark = pytest.mark.usefixtures("one_thread")


# --------------------------------------------------------------------------------------------------
# Independent references
# --------------------------------------------------------------------------------------------------


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def _ref_infonce(q, p, negatives=None, negatives_mask=None, temperature=0.01) -> tuple[float, float]:
    """Mean InfoNCE and accuracy; candidates = all positives, then every unmasked hard negative."""
    q, p = np.asarray(q, dtype=np.float64), np.asarray(p, dtype=np.float64)
    candidates = [p[j] for j in range(len(p))]
    if negatives is not None:
        negatives = np.asarray(negatives, dtype=np.float64)
        for j in range(negatives.shape[0]):
            for k in range(negatives.shape[1]):
                if negatives_mask is None or bool(negatives_mask[j][k]):
                    candidates.append(negatives[j, k])
    total, correct = 0.0, 0
    for i in range(len(q)):
        logits = [float(np.dot(q[i], c)) / temperature for c in candidates]
        total += _logsumexp(logits) - logits[i]
        correct += int(int(np.argmax(logits)) == i)
    return total / len(q), correct / len(q)


def _ref_normalize(values: list[float]) -> list[float]:
    lo, hi = np.percentile(values, 1), np.percentile(values, 99)
    if hi == lo:
        return [1.0] * len(values)
    return [min(max((v - lo) / (hi - lo), 0.0), 1.0) for v in values]


def _ref_listwise(
    student,
    teacher,
    mask=None,
    teacher_temperature=0.3,
    student_temperature=0.05,
    infonce_weight=0.1,
    infonce_temperature=0.01,
    false_negative_ratio=0.6,
    normalize=True,
) -> tuple[float, float, float]:
    """(loss, kl, infonce) computed query by query over the valid candidates only."""
    student, teacher = np.asarray(student, dtype=np.float64), np.asarray(teacher, dtype=np.float64)
    kls, nces = [], []
    for i in range(student.shape[0]):
        idx = [c for c in range(student.shape[1]) if mask is None or bool(mask[i][c])]
        if not idx:
            continue
        raw = [float(teacher[i, c]) for c in idx]
        t = _ref_normalize(raw) if normalize else raw
        s = [float(student[i, c]) for c in idx]
        t_logits = [v / teacher_temperature for v in t]
        s_logits = [v / student_temperature for v in s]
        t_lse, s_lse = _logsumexp(t_logits), _logsumexp(s_logits)
        kl = 0.0
        for tl, sl in zip(t_logits, s_logits, strict=True):
            log_pt, log_ps = tl - t_lse, sl - s_lse
            kl += math.exp(log_pt) * (log_pt - log_ps)
        kls.append(kl)
        top = max(range(len(raw)), key=lambda k: (raw[k], -k))  # first maximum
        kept = [k for k in range(len(idx)) if k == top or not t[k] > false_negative_ratio * t[top]]
        logits = [s[k] / infonce_temperature for k in kept]
        nces.append(_logsumexp(logits) - s[top] / infonce_temperature)
    if not kls:
        return 0.0, 0.0, 0.0
    kl, nce = sum(kls) / len(kls), sum(nces) / len(nces)
    return kl + infonce_weight * nce, kl, nce


def _unit(*shape: int, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, generator=generator, dtype=dtype), dim=-1)


# --------------------------------------------------------------------------------------------------
# InfoNCE
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.01, 0.05, 1.0])
def test_infonce_in_batch_only_matches_reference(temperature: float) -> None:
    g = torch.Generator().manual_seed(0)
    q, p = _unit(6, 16, generator=g), _unit(6, 16, generator=g)
    out = InfoNCELoss(temperature=temperature).compute(q, p)
    loss, accuracy = _ref_infonce(q, p, temperature=temperature)
    assert out.loss.item() == pytest.approx(loss, rel=1e-10)
    assert out.accuracy.item() == pytest.approx(accuracy)


@pytest.mark.parametrize("temperature", [0.01, 0.1])
def test_infonce_with_hard_negatives_and_mask_matches_reference(temperature: float) -> None:
    g = torch.Generator().manual_seed(1)
    q, p, n = _unit(5, 12, generator=g), _unit(5, 12, generator=g), _unit(5, 4, 12, generator=g)
    mask = torch.rand(5, 4, generator=g) > 0.3
    mask[2] = False  # a query without any real hard negative
    loss_fn = InfoNCELoss(temperature=temperature)
    out = loss_fn.compute(q, p, n, mask)
    loss, accuracy = _ref_infonce(q, p, n, mask.numpy(), temperature=temperature)
    assert out.loss.item() == pytest.approx(loss, rel=1e-10)
    assert out.accuracy.item() == pytest.approx(accuracy)
    assert out.logits.shape == (5, 5 + 5 * 4)
    # No mask = every negative is real.
    assert loss_fn(q, p, n).item() == pytest.approx(_ref_infonce(q, p, n, None, temperature)[0], rel=1e-10)


def test_infonce_masked_negatives_are_ignored() -> None:
    g = torch.Generator().manual_seed(2)
    q, p, n = _unit(4, 8, generator=g), _unit(4, 8, generator=g), _unit(4, 3, 8, generator=g)
    mask = torch.ones(4, 3, dtype=torch.bool)
    mask[0, 1] = mask[3, 0] = mask[3, 2] = False
    loss_fn = InfoNCELoss(temperature=0.02)
    base = loss_fn(q, p, n, mask)
    # Make the masked negatives as hard as possible: copies of the queries' own positives.
    n2 = n.clone()
    n2[0, 1], n2[3, 0], n2[3, 2] = q[0], q[1], q[2]
    n2.requires_grad_(True)
    moved = loss_fn(q, p, n2, mask)
    assert moved.item() == pytest.approx(base.item(), rel=1e-12)
    unmasked = loss_fn(q, p, n2)
    assert unmasked.item() > base.item() + 1.0  # the same tensors do matter once unmasked
    moved.backward()
    assert torch.all(n2.grad[~mask] == 0)
    assert torch.all(n2.grad[mask].abs().sum(-1) > 0)


def test_infonce_temperature_divides_the_scores() -> None:
    g = torch.Generator().manual_seed(3)
    q, p, n = _unit(4, 8, generator=g), _unit(4, 8, generator=g), _unit(4, 2, 8, generator=g)
    a = InfoNCELoss(temperature=0.01)(q, p, n)
    b = InfoNCELoss(temperature=0.1)(q, p, n)
    assert a.item() != pytest.approx(b.item(), rel=1e-3)
    assert b.item() == pytest.approx(_ref_infonce(q, p, n, None, 0.1)[0], rel=1e-10)
    # logits = (q·d)/τ: scaling the queries by c and τ by c leaves the loss unchanged.
    c = 7.0
    assert InfoNCELoss(temperature=0.01 * c)(q * c, p, n).item() == pytest.approx(a.item(), rel=1e-10)


def test_infonce_accuracy_hand_made() -> None:
    p = torch.eye(4, dtype=torch.float64)  # (batch_size, dim)
    assert InfoNCELoss().compute(p.clone(), p).accuracy.item() == 1.0
    q = p[[1, 0, 2, 3]]  # queries 0 and 1 point at each other's positives
    assert InfoNCELoss().compute(q, p).accuracy.item() == 0.5
    # Query 2 leans towards document 0; a hard negative (of query 0) equal to query 2 beats its positive.
    q = p.clone()
    q[2] = F.normalize(p[2] + 0.3 * p[0], dim=0)
    n = torch.zeros(4, 1, 4, dtype=torch.float64)  # (batch_size, num_negatives, dim)
    n[0, 0] = q[2]
    assert InfoNCELoss().compute(q, p).accuracy.item() == 1.0
    assert InfoNCELoss().compute(q, p, n).accuracy.item() == 0.75


def test_infonce_gradients_finite_and_low_precision_inputs() -> None:
    g = torch.Generator().manual_seed(4)
    q = _unit(3, 8, generator=g, dtype=torch.float32).requires_grad_(True)
    p = _unit(3, 8, generator=g, dtype=torch.float32).requires_grad_(True)
    n = _unit(3, 2, 8, generator=g, dtype=torch.float32).requires_grad_(True)
    mask = torch.tensor([[True, False], [False, False], [True, True]])
    loss = InfoNCELoss()(q, p, n, mask)
    loss.backward()
    for t in (q, p, n):
        assert torch.isfinite(t.grad).all()
    out = InfoNCELoss().compute(q.bfloat16(), p.bfloat16(), n.bfloat16(), mask)
    assert out.loss.dtype == torch.float32 and torch.isfinite(out.loss)


def test_infonce_rejects_bad_shapes() -> None:
    q = torch.zeros(2, 4)
    with pytest.raises(ValueError):
        InfoNCELoss()(q, torch.zeros(3, 4))
    with pytest.raises(ValueError):
        InfoNCELoss()(q, q, torch.zeros(2, 4))
    with pytest.raises(ValueError):
        InfoNCELoss()(q, q, torch.zeros(2, 3, 4), torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError):
        InfoNCELoss(temperature=0.0)


def test_infonce_gather_flag_is_a_no_op_without_process_group() -> None:
    g = torch.Generator().manual_seed(5)
    q, p, n = _unit(3, 8, generator=g), _unit(3, 8, generator=g), _unit(3, 2, 8, generator=g)
    assert not dist.is_initialized()
    assert InfoNCELoss(gather_across_devices=True)(q, p, n).item() == InfoNCELoss()(q, p, n).item()


# --------------------------------------------------------------------------------------------------
# InfoNCE under DistributedDataParallel (2 CPU processes, gloo)
# --------------------------------------------------------------------------------------------------

_WORLD = 2
_GLOBAL_BATCH, _NUM_NEG, _IN_DIM, _EMB_DIM = 8, 3, 10, 6
_DDP_TEMPERATURE = 0.05


def _ddp_data() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(123)
    mask = torch.rand(_GLOBAL_BATCH, _NUM_NEG, generator=g) > 0.25
    mask[1] = False
    return {
        "q": torch.randn(_GLOBAL_BATCH, _IN_DIM, generator=g, dtype=torch.float64),
        "p": torch.randn(_GLOBAL_BATCH, _IN_DIM, generator=g, dtype=torch.float64),
        "n": torch.randn(_GLOBAL_BATCH, _NUM_NEG, _IN_DIM, generator=g, dtype=torch.float64),
        "mask": mask,
    }


def _ddp_encoder() -> nn.Module:
    torch.manual_seed(7)
    return nn.Linear(_IN_DIM, _EMB_DIM).double()


def _encode_and_loss(model: nn.Module, data: dict[str, torch.Tensor], loss_fn: InfoNCELoss):
    batch = data["q"].shape[0]
    inputs = torch.cat([data["q"], data["p"], data["n"].reshape(-1, _IN_DIM)])  # one forward pass
    emb = F.normalize(model(inputs), dim=-1)  # (batch * (2 + N), emb_dim)
    q, p, n = emb[:batch], emb[batch : 2 * batch], emb[2 * batch :].reshape(batch, _NUM_NEG, _EMB_DIM)
    return loss_fn.compute(q, p, n, data["mask"])


def _ddp_worker(rank: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=_WORLD)
    try:
        local = _GLOBAL_BATCH // _WORLD
        data = {k: v[rank * local : (rank + 1) * local] for k, v in _ddp_data().items()}
        results = {}
        for gather in (True, False):
            model = _ddp_encoder()
            ddp = DistributedDataParallel(model)
            out = _encode_and_loss(ddp, data, InfoNCELoss(_DDP_TEMPERATURE, gather_across_devices=gather))
            out.loss.backward()  # DDP all-reduces (averages) the parameter gradients here
            results[gather] = {
                "loss": out.loss.detach(),
                "accuracy": out.accuracy,
                "grads": [prm.grad.detach().clone() for prm in model.parameters()],
            }
            del ddp  # release the DDP reducer before the next one and before the group goes away
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
        dist.barrier()  # neither rank tears gloo down while the other still talks to it
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_infonce_ddp_gather_equals_single_process_whole_batch(tmp_path: Path) -> None:
    mp.spawn(_ddp_worker, args=(_free_port(), str(tmp_path)), nprocs=_WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(_WORLD)]

    model = _ddp_encoder()
    single = _encode_and_loss(model, _ddp_data(), InfoNCELoss(_DDP_TEMPERATURE))
    single.loss.backward()
    single_grads = [prm.grad for prm in model.parameters()]

    # Gathered: mean of the per-rank losses == whole-batch loss; DDP-averaged grads == whole-batch grads.
    gathered = [r[True] for r in ranks]
    mean_loss = sum(r["loss"] for r in gathered) / _WORLD
    assert mean_loss.item() == pytest.approx(single.loss.item(), abs=1e-5, rel=1e-5)
    mean_acc = sum(r["accuracy"] for r in gathered) / _WORLD
    assert mean_acc.item() == pytest.approx(single.accuracy.item())
    for r in gathered:
        for got, want in zip(r["grads"], single_grads, strict=True):
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)

    # Without the gather every rank only sees its own half of the documents: loss and grads differ.
    local = [r[False] for r in ranks]
    local_mean = sum(r["loss"] for r in local) / _WORLD
    assert abs(local_mean.item() - single.loss.item()) > 1e-2
    diff = max((got - want).abs().max().item() for got, want in zip(local[0]["grads"], single_grads, strict=True))
    assert diff > 1e-3


# --------------------------------------------------------------------------------------------------
# Teacher normalisation
# --------------------------------------------------------------------------------------------------


def test_normalize_teacher_scores_matches_numpy_percentile() -> None:
    g = torch.Generator().manual_seed(10)
    scores = torch.randn(7, 25, generator=g, dtype=torch.float64) * 3 + 1
    mask = torch.ones(7, 25, dtype=torch.bool)
    for row, valid in enumerate([25, 20, 9, 3, 2, 1, 0]):
        mask[row, valid:] = False
    scores[3, :3] = 4.2  # constant valid part
    got = normalize_teacher_scores(scores, mask)
    for row in range(7):
        idx = [c for c in range(25) if mask[row, c]]
        want = _ref_normalize([float(scores[row, c]) for c in idx]) if idx else []
        np.testing.assert_allclose(got[row, idx].numpy(), want, rtol=0, atol=1e-12)
        assert torch.all(got[row, ~mask[row]] == 0)
    assert torch.isfinite(got).all()
    assert torch.all(got[3, :3] == 1.0) and got[5, 0] == 1.0  # constant / single-valid rows


def test_normalize_teacher_scores_clips_outliers_and_fixed_range() -> None:
    scores = torch.tensor([[float(v) for v in range(100)] + [1000.0]], dtype=torch.float64)  # (1, 101)
    got = normalize_teacher_scores(scores)[0]
    lo, hi = np.percentile(scores[0].numpy(), [1, 99])
    assert got[-1] == 1.0 and got[0] == 0.0  # clipped at both ends
    assert got[50].item() == pytest.approx((50 - lo) / (hi - lo), rel=1e-6)
    fixed = normalize_teacher_scores(scores, score_range=(0.0, 200.0))[0]
    assert fixed[50].item() == pytest.approx(0.25) and fixed[-1] == 1.0


# --------------------------------------------------------------------------------------------------
# Listwise distillation
# --------------------------------------------------------------------------------------------------


def _random_lists(seed: int, batch: int = 5, length: int = 12):
    g = torch.Generator().manual_seed(seed)
    q = _unit(batch, 16, generator=g)
    docs = _unit(batch, length, 16, generator=g)
    student = torch.einsum("bd,bld->bl", q, docs)  # (batch_size, num_candidates)
    teacher = torch.randn(batch, length, generator=g, dtype=torch.float64) * 4  # cross-encoder logits
    mask = torch.rand(batch, length, generator=g) > 0.2
    mask[:, 0] = True
    return student, teacher, mask


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"teacher_temperature": 1.0, "student_temperature": 0.02, "infonce_weight": 0.5},
        {"false_negative_ratio": 0.3, "infonce_temperature": 0.05},
    ],
)
def test_listwise_matches_reference(kwargs: dict) -> None:
    student, teacher, mask = _random_lists(20)
    out = ListwiseDistillationLoss(**kwargs).compute(student, teacher, mask)
    loss, kl, nce = _ref_listwise(student, teacher, mask.numpy(), **kwargs)
    assert out.loss.item() == pytest.approx(loss, rel=1e-9)
    assert out.kl.item() == pytest.approx(kl, rel=1e-9)
    assert out.infonce.item() == pytest.approx(nce, rel=1e-9)


def test_listwise_without_normalisation_and_without_mask_matches_reference() -> None:
    student, teacher, _ = _random_lists(21)
    teacher = torch.sigmoid(teacher)  # probabilities in [0, 1]
    loss_fn = ListwiseDistillationLoss(normalize_teacher=False)
    want = _ref_listwise(student, teacher, None, normalize=False)[0]
    assert loss_fn(student, teacher).item() == pytest.approx(want, rel=1e-9)


def test_listwise_masked_candidates_do_not_matter() -> None:
    student, teacher, mask = _random_lists(22)
    student = student.clone().requires_grad_(True)
    loss_fn = ListwiseDistillationLoss()
    base = loss_fn(student, teacher, mask)
    base.backward()
    assert torch.all(student.grad[~mask] == 0) and torch.isfinite(student.grad).all()
    # Masked entries set to extremes in both student and teacher (also outside the percentile range).
    s2, t2 = student.detach().clone(), teacher.clone()
    s2[~mask], t2[~mask] = 1.0, 1e6
    assert loss_fn(s2, t2, mask).item() == pytest.approx(base.item(), rel=1e-12)
    assert loss_fn(s2, t2).item() != pytest.approx(base.item(), rel=1e-3)


def test_listwise_temperatures_are_applied() -> None:
    student, teacher, mask = _random_lists(23)
    teacher = torch.sigmoid(teacher)
    kw = {"infonce_weight": 0.0, "normalize_teacher": False}
    a = ListwiseDistillationLoss(teacher_temperature=0.3, student_temperature=0.05, **kw)(student, teacher, mask)
    b = ListwiseDistillationLoss(teacher_temperature=0.3, student_temperature=0.1, **kw)(student, teacher, mask)
    c = ListwiseDistillationLoss(teacher_temperature=0.6, student_temperature=0.05, **kw)(student, teacher, mask)
    assert len({round(x.item(), 6) for x in (a, b, c)}) == 3
    for (tt, ts), got in [((0.3, 0.1), b), ((0.6, 0.05), c)]:
        want = _ref_listwise(student, teacher, mask.numpy(), tt, ts, 0.0, normalize=False)[1]
        assert got.item() == pytest.approx(want, rel=1e-9)
    # softmax(t/τ_t) and softmax(s/τ_s): scaling scores and temperatures together changes nothing.
    scaled = ListwiseDistillationLoss(teacher_temperature=0.9, student_temperature=0.15, **kw)
    assert scaled(student * 3, teacher * 3, mask).item() == pytest.approx(a.item(), rel=1e-9)
    # Tevatron-style single temperature = the same τ on both sides.
    single = ListwiseDistillationLoss(single_temperature=0.2, **kw)(student, teacher, mask)
    two = ListwiseDistillationLoss(teacher_temperature=0.2, student_temperature=0.2, **kw)(student, teacher, mask)
    assert single.item() == pytest.approx(two.item(), rel=1e-12)
    assert single.item() == pytest.approx(
        _ref_listwise(student, teacher, mask.numpy(), 0.2, 0.2, 0.0, normalize=False)[1], rel=1e-9
    )


def test_listwise_infonce_temperature_is_applied() -> None:
    student, teacher, mask = _random_lists(24)
    a = ListwiseDistillationLoss(infonce_temperature=0.01).compute(student, teacher, mask).infonce
    b = ListwiseDistillationLoss(infonce_temperature=0.04).compute(student, teacher, mask).infonce
    assert a.item() != pytest.approx(b.item(), rel=1e-3)
    assert b.item() == pytest.approx(_ref_listwise(student, teacher, mask.numpy(), infonce_temperature=0.04)[2])


def test_false_negative_mask_hand_made() -> None:
    teacher = torch.tensor([[0.2, 1.0, 0.7, 0.5, 0.61]], dtype=torch.float64)  # top-1 = index 1
    student = torch.tensor([[0.30, 0.50, 0.90, 0.10, 0.80]], dtype=torch.float64)
    tau = 0.01
    loss_fn = ListwiseDistillationLoss(normalize_teacher=False, infonce_temperature=tau, infonce_weight=1.0)
    got = loss_fn.compute(student, teacher).infonce.item()
    # 0.7 and 0.61 exceed 0.6 × 1.0: dropped as likely false negatives; 0.2 and 0.5 stay negatives.
    kept = [0.30, 0.50, 0.10]
    want = -0.50 / tau + math.log(sum(math.exp(s / tau) for s in kept))
    assert got == pytest.approx(want, rel=1e-12)
    # The dropped candidates' student scores do not matter for the InfoNCE term ...
    s2 = student.clone()
    s2[0, 2], s2[0, 4] = -0.9, 0.99
    assert loss_fn.compute(s2, teacher).infonce.item() == pytest.approx(want, rel=1e-12)
    # ... but do once the ratio is above their teacher scores.
    loose = ListwiseDistillationLoss(
        normalize_teacher=False, infonce_temperature=tau, false_negative_ratio=0.8
    ).compute(student, teacher)
    want_loose = -0.50 / tau + math.log(sum(math.exp(s / tau) for s in [0.30, 0.50, 0.90, 0.10, 0.80]))
    assert loose.infonce.item() == pytest.approx(want_loose, rel=1e-12)
    # The threshold is relative to the top score, and the positive is the teacher's top-1 wherever it is.
    halved = ListwiseDistillationLoss(normalize_teacher=False, infonce_temperature=tau)
    assert halved.compute(student, teacher / 2).infonce.item() == pytest.approx(want, rel=1e-12)
    perm = [4, 2, 0, 1, 3]
    assert halved.compute(student[:, perm], teacher[:, perm]).infonce.item() == pytest.approx(want, rel=1e-12)


def test_constant_teacher_list_is_finite() -> None:
    student = torch.tensor([[0.1, 0.4, -0.2, 0.3]], dtype=torch.float64, requires_grad=True)
    teacher = torch.full((1, 4), 3.5, dtype=torch.float64)
    out = ListwiseDistillationLoss().compute(student, teacher)
    assert torch.all(out.normalized_teacher_scores == 1.0)
    assert out.infonce.item() == 0.0  # every other candidate ties with the top: no negatives left
    # KL(uniform ‖ softmax(s/τ_s)).
    log_ps = [v / 0.05 - _logsumexp([w / 0.05 for w in student[0].tolist()]) for v in student[0].tolist()]
    assert out.kl.item() == pytest.approx(sum(0.25 * (math.log(0.25) - lp) for lp in log_ps), rel=1e-9)
    out.loss.backward()
    assert torch.isfinite(student.grad).all()


def test_single_valid_and_fully_masked_rows_are_finite() -> None:
    student, teacher, _ = _random_lists(25, batch=4, length=6)
    student = student.clone().requires_grad_(True)
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[0, 1:] = False  # one valid candidate
    mask[1] = False  # nothing valid
    mask[3, :4] = False
    loss_fn = ListwiseDistillationLoss()
    out = loss_fn.compute(student, teacher, mask)
    assert torch.isfinite(out.loss)
    assert out.loss.item() == pytest.approx(_ref_listwise(student.detach(), teacher, mask.numpy())[0], rel=1e-9)
    out.loss.backward()
    assert torch.isfinite(student.grad).all()
    assert torch.all(student.grad[0] == 0) and torch.all(student.grad[1] == 0)  # nothing to learn there
    # Every row masked: zero loss, still differentiable.
    empty = student.detach().clone().requires_grad_(True)
    loss = loss_fn(empty, teacher, torch.zeros(4, 6, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0 and torch.all(empty.grad == 0)


def test_listwise_gradients_finite_float32() -> None:
    student, teacher, mask = _random_lists(26)
    student = student.float().requires_grad_(True)
    loss = ListwiseDistillationLoss()(student, teacher.float(), mask)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(student.grad).all()
    assert student.grad.abs().sum() > 0


def test_listwise_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError):
        ListwiseDistillationLoss()(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError):
        ListwiseDistillationLoss()(torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError):
        ListwiseDistillationLoss(student_temperature=-1.0)
