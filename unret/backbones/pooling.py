"""Pooling token states into one vector, correct whatever side the batch was padded on.

Last-token pooling that assumes right padding silently pools a pad token under left padding
(sentence-transformers #3208); here every strategy reads the attention mask instead, so left- and
right-padded batches give the same vectors.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

Pooling = Literal["last", "mean", "cls"]
POOLING_STRATEGIES: tuple[str, ...] = ("last", "mean", "cls")


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of each row's last real token, for left or right padding.  # (batch_size,)"""
    seq_len = attention_mask.shape[1]
    positions = torch.arange(seq_len, device=attention_mask.device).expand_as(attention_mask)
    return torch.where(attention_mask.bool(), positions, -1).max(dim=1).values


def first_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of each row's first real token (the CLS token under left padding too).  # (batch_size,)"""
    seq_len = attention_mask.shape[1]
    positions = torch.arange(seq_len, device=attention_mask.device).expand_as(attention_mask)
    return torch.where(attention_mask.bool(), positions, seq_len).min(dim=1).values


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, strategy: Pooling) -> torch.Tensor:
    """Pool ``hidden`` (batch, seq, dim) under ``attention_mask`` (batch, seq) into (batch, dim)."""
    if strategy == "mean":
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (batch_size, seq_len, 1)
        summed = (hidden * mask).sum(dim=1)  # (batch_size, hidden_size)
        return summed / mask.sum(dim=1).clamp(min=1.0)
    if strategy in ("last", "cls"):
        index = last_token_index(attention_mask) if strategy == "last" else first_token_index(attention_mask)
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        return hidden[rows, index]  # (batch_size, hidden_size)
    raise ValueError(f"unknown pooling strategy {strategy!r}; choose one of {POOLING_STRATEGIES}")


def normalize(embeddings: torch.Tensor, truncate_dim: int | None = None) -> torch.Tensor:
    """Matryoshka-truncate to ``truncate_dim`` (if given), then L2-normalise in float32."""
    if truncate_dim is not None:
        if not 0 < truncate_dim <= embeddings.shape[-1]:
            raise ValueError(f"truncate_dim must be in 1..{embeddings.shape[-1]}, got {truncate_dim}")
        embeddings = embeddings[..., :truncate_dim]
    return F.normalize(embeddings.float(), p=2, dim=-1)
