"""Builders of evaluation / training data sets from data that ships with Python or with packages.

Each builder writes a BEIR-format folder (see ``unret.formats``) and returns its statistics.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

BUILDERS: dict[str, str] = {
    "stdlib-code": "unret.datasets.stdlib_code:build_stdlib_code",
    "emoji": "unret.datasets.emoji:build_emoji",
}


def build(name: str, out_dir: str | os.PathLike, **kwargs: Any) -> dict[str, Any]:
    """Build the data set called ``name`` (one of ``BUILDERS``) into ``out_dir``; returns its statistics."""
    if name not in BUILDERS:
        raise ValueError(f"unknown data set {name!r}; known: {sorted(BUILDERS)}")
    module, func = BUILDERS[name].split(":")
    return getattr(importlib.import_module(module), func)(out_dir, **kwargs)
