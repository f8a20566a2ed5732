"""Fusion heads: mix two backbones' vectors (e.g. Qwen2.5-Coder and Qwen2.5-VL) into one space.

Every head maps ``(e_a, e_b)`` to one vector; an item only one backbone can read (an image, which the
coder cannot) goes through that backbone's projection alone, into the same output space, so all
modalities stay searchable together. Heads start close to score fusion (orthogonal projections, even
mixing), so an untrained head is already a sensible retriever and training only has to improve on it.

* `ConcatHead` — ``W [e_a; e_b]``: concatenate, then one linear map.
* `GatedHead` — ``g ⊙ W_a e_a + (1 − g) ⊙ W_b e_b`` with a learned per-dimension gate
  ``g = σ(W_g [e_a; e_b])`` that depends on the item.
* `WeightedSumHead` — ``w_a W_a e_a + w_b W_b e_b`` with two learned global weights (softmax).

Outputs are not normalised here; the fused backbone L2-normalises them like every backbone's output.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _orthogonal_linear(in_dim: int, out_dim: int, bias: bool = False) -> nn.Linear:
    layer = nn.Linear(in_dim, out_dim, bias=bias)
    nn.init.orthogonal_(layer.weight)  # preserves dot products (up to JL noise when out_dim < in_dim)
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


class FusionHead(nn.Module):
    """Base: ``forward(e_a (B, Da), e_b (B, Db), has_a (B,), has_b (B,)) -> (B, out_dim)``."""

    name = "base"

    def __init__(self, dim_a: int, dim_b: int, out_dim: int):
        super().__init__()
        for label, value in (("dim_a", dim_a), ("dim_b", dim_b), ("out_dim", out_dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{label} must be a positive integer, got {value!r}")
        self.dim_a, self.dim_b, self.out_dim = dim_a, dim_b, out_dim

    def config(self) -> dict:
        return {"type": self.name, "dim_a": self.dim_a, "dim_b": self.dim_b, "out_dim": self.out_dim}

    def _check(self, e_a: Tensor, e_b: Tensor, has_a: Tensor, has_b: Tensor) -> None:
        if e_a.shape[-1] != self.dim_a or e_b.shape[-1] != self.dim_b:
            raise ValueError(f"{type(self).__name__} expects dims ({self.dim_a}, {self.dim_b}), "
                             f"got ({e_a.shape[-1]}, {e_b.shape[-1]})")
        if not bool((has_a | has_b).all()):
            raise ValueError("every item needs a vector from at least one backbone")


class ConcatHead(FusionHead):
    """Concatenate the two vectors (a missing one is zeros) and map them with one linear layer."""

    name = "concat"

    def __init__(self, dim_a: int, dim_b: int, out_dim: int | None = None):
        super().__init__(dim_a, dim_b, out_dim or dim_a + dim_b)
        self.proj = nn.Linear(dim_a + dim_b, self.out_dim, bias=False)
        if self.out_dim == dim_a + dim_b:
            nn.init.eye_(self.proj.weight)  # starts as plain concatenation: score = cos_a + cos_b
        else:
            nn.init.orthogonal_(self.proj.weight)

    def forward(self, e_a: Tensor, e_b: Tensor, has_a: Tensor, has_b: Tensor) -> Tensor:
        self._check(e_a, e_b, has_a, has_b)
        x = torch.cat([e_a * has_a.unsqueeze(-1), e_b * has_b.unsqueeze(-1)], dim=-1)  # (batch, dim_a + dim_b)
        return self.proj(x)  # (batch, out_dim)


class GatedHead(FusionHead):
    """Per-dimension, per-item gate between the two projections (σ(0) = ½ at start: even mixing)."""

    name = "gated"

    def __init__(self, dim_a: int, dim_b: int, out_dim: int | None = None):
        super().__init__(dim_a, dim_b, out_dim or max(dim_a, dim_b))
        self.proj_a = _orthogonal_linear(dim_a, self.out_dim)
        self.proj_b = _orthogonal_linear(dim_b, self.out_dim)
        self.gate = nn.Linear(dim_a + dim_b, self.out_dim)
        nn.init.zeros_(self.gate.weight)
        nn.init.zeros_(self.gate.bias)

    def forward(self, e_a: Tensor, e_b: Tensor, has_a: Tensor, has_b: Tensor) -> Tensor:
        self._check(e_a, e_b, has_a, has_b)
        ma, mb = has_a.unsqueeze(-1).to(e_a.dtype), has_b.unsqueeze(-1).to(e_b.dtype)  # (batch, 1)
        g = torch.sigmoid(self.gate(torch.cat([e_a * ma, e_b * mb], dim=-1)))  # (batch, out_dim)
        g = g * ma * mb + ma * (1 - mb)  # only a: g = 1; only b: g = 0
        return g * self.proj_a(e_a) + (1 - g) * self.proj_b(e_b)


class WeightedSumHead(FusionHead):
    """Two projections mixed by two learned global weights (softmax over two logits)."""

    name = "weighted"

    def __init__(self, dim_a: int, dim_b: int, out_dim: int | None = None):
        super().__init__(dim_a, dim_b, out_dim or max(dim_a, dim_b))
        self.proj_a = _orthogonal_linear(dim_a, self.out_dim)
        self.proj_b = _orthogonal_linear(dim_b, self.out_dim)
        self.logits = nn.Parameter(torch.zeros(2))

    def forward(self, e_a: Tensor, e_b: Tensor, has_a: Tensor, has_b: Tensor) -> Tensor:
        self._check(e_a, e_b, has_a, has_b)
        w = torch.softmax(self.logits, dim=0)
        ma, mb = has_a.unsqueeze(-1).to(e_a.dtype), has_b.unsqueeze(-1).to(e_b.dtype)  # (batch, 1)
        both = ma * mb
        wa = both * w[0] + ma * (1 - mb)  # an item one side cannot read takes the other's projection alone
        wb = both * w[1] + mb * (1 - ma)
        return wa * self.proj_a(e_a) + wb * self.proj_b(e_b)


HEADS: dict[str, type[FusionHead]] = {h.name: h for h in (ConcatHead, GatedHead, WeightedSumHead)}


def build_head(kind: str, dim_a: int, dim_b: int, out_dim: int | None = None) -> FusionHead:
    """A head by name: ``concat``, ``gated`` or ``weighted``."""
    if kind not in HEADS:
        raise ValueError(f"unknown fusion head {kind!r}; choose one of {sorted(HEADS)}")
    return HEADS[kind](dim_a, dim_b, out_dim)
