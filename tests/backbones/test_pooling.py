"""Pooling strategies against explicit loops, under left and right padding."""

from __future__ import annotations

import pytest
import torch

from unret.backbones.pooling import normalize, pool


def _padded(lengths, width, dim, side, seed=0):
    g = torch.Generator().manual_seed(seed)
    real = [torch.randn(n, dim, generator=g) for n in lengths]
    hidden = torch.randn(len(lengths), width, dim, generator=g)  # garbage where padding is
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for i, r in enumerate(real):
        span = slice(width - len(r), width) if side == "left" else slice(0, len(r))
        hidden[i, span] = r
        mask[i, span] = 1
    return real, hidden, mask


@pytest.mark.parametrize("side", ["left", "right"])
def test_pooling_reads_only_real_tokens(side):
    real, hidden, mask = _padded([3, 7, 1, 5], width=9, dim=6, side=side)
    torch.testing.assert_close(pool(hidden, mask, "last"), torch.stack([r[-1] for r in real]))
    torch.testing.assert_close(pool(hidden, mask, "cls"), torch.stack([r[0] for r in real]))
    torch.testing.assert_close(pool(hidden, mask, "mean"), torch.stack([r.mean(0) for r in real]))


def test_normalize_truncates_then_renormalises():
    x = torch.randn(4, 16)
    out = normalize(x, truncate_dim=8)
    assert out.shape == (4, 8)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(4))
    torch.testing.assert_close(out, x[:, :8] / x[:, :8].norm(dim=1, keepdim=True))
    with pytest.raises(ValueError, match="truncate_dim"):
        normalize(x, truncate_dim=17)


def test_unknown_pooling_is_refused():
    with pytest.raises(ValueError, match="unknown pooling"):
        pool(torch.zeros(1, 2, 3), torch.ones(1, 2), "max")
