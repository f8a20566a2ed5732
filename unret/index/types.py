"""The index's public value types: a search hit and the ``where`` filter type."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Where = Mapping[str, Any] | Callable[[dict], bool]


@dataclass(frozen=True)
class Hit:
    """One search result; ``score`` is the similarity (cosine or inner product), higher is better."""

    id: str
    score: float
    modality: str
    metadata: dict
