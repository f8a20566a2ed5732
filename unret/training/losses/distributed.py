"""Cross-device gathers for in-batch negatives across ``torch.distributed`` ranks."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["distributed_world", "gather_no_grad", "gather_with_grad"]


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


def gather_no_grad(tensor: Tensor, group: dist.ProcessGroup | None = None) -> Tensor:
    chunks = [torch.empty_like(tensor) for _ in range(dist.get_world_size(group))]
    dist.all_gather(chunks, tensor.contiguous(), group=group)
    return torch.cat(chunks, dim=0)


def distributed_world(group: dist.ProcessGroup | None = None) -> tuple[int, int]:
    """(rank, world_size), or (0, 1) when torch.distributed is not in use."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(group), dist.get_world_size(group)
    return 0, 1
