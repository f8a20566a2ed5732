"""Model identity: the one rule for "these two models give interchangeable vectors".

A name or a path does not identify a model (weights change under the same hub name; a fine-tuned copy moves),
so unret identifies a model by what it does: its vector for a fixed probe text. Saved indexes and fusion
heads record that vector and refuse a model whose probe vector drifts past `PROBE_TOLERANCE`; caches of
corpus embeddings key on `model_digest` of the probe and the settings that shape a vector.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from unret.backbones.pooling import normalize
from unret.items import to_item

if TYPE_CHECKING:
    from unret.backbones.base import Backbone

PROBE = "unret probe: one embedding space for text, code and images."
PROBE_TOLERANCE = 1e-3


def probe_vector(backbone: Backbone, truncate_dim: int | None = None) -> list[float]:
    """The backbone's document vector for :data:`PROBE` (Matryoshka-truncated like its outputs), rounded."""
    vector = normalize(backbone.embed([to_item(PROBE)]), truncate_dim)[0]
    return [round(x, 6) for x in vector.cpu().tolist()]


def probe_drift(got: Sequence[float], expected: Sequence[float]) -> float:
    """Largest difference between two probe vectors (infinite when their dimensions differ)."""
    if len(got) != len(expected):
        return float("inf")
    return max(abs(a - b) for a, b in zip(got, expected, strict=True))


def probe_mismatch(got: Sequence[float], expected: Sequence[float]) -> float | None:
    """The drift when two probe vectors say "another model" (beyond `PROBE_TOLERANCE`), else None."""
    drift = probe_drift(got, expected)
    return drift if drift > PROBE_TOLERANCE else None


def model_digest(*parts: Any) -> str:
    """sha256 of JSON-serialisable parts (a model reference, backbone settings, a probe vector…)."""
    return hashlib.sha256(json.dumps(list(parts), sort_keys=True, default=str).encode()).hexdigest()
