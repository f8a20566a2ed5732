"""``modality`` and ``where`` as a Milvus boolean expression: a pre-filter the engine applies itself.

Milvus compares JSON values more loosely than unret's filter (``planner.same``): ``metadata["x"] == 1``
also matches ``true``, and lists or objects cannot be compared whole. So the expression is a *superset*
of the matching items — every item unret's filter accepts passes it — and the store checks each returned
item again in Python with ``planner.matches`` (over-fetching when that drops hits). A value no stored
item can hold (NaN, a string that is not valid Unicode, an integer past int64, which ``add`` refuses)
makes the whole filter unsatisfiable: ``translate`` returns ``None`` and nothing is asked of the engine.

Strings are quoted for Milvus's expression grammar: only ``\\``, ``"``, newline, carriage return and tab
need escapes; every other character stands for itself, so a key or value cannot end the literal early.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

INT64 = (-(2**63), 2**63 - 1)
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class Unsatisfiable(Exception):
    """No stored item can match (raised inside the translation, turned into ``None``)."""


def quote(s: str) -> str:
    """``s`` as a Milvus string literal; Unsatisfiable if it is not valid Unicode (nothing stored can equal it)."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise Unsatisfiable from e
    return '"' + "".join(_ESCAPES.get(c, c) for c in s) + '"'


def string_list(values: Sequence[str]) -> str:
    """``["a", "b"]`` with every element quoted (for ``id in …`` and ``modality in …``)."""
    return "[" + ", ".join(quote(v) for v in values) + "]"


def translate(modality: Sequence[str] | None, where: Mapping[str, Any] | None, field: str = "metadata") -> str | None:
    """The expression for these filters: ``""`` for none, ``None`` when no item can match."""
    try:
        parts = []
        if modality is not None:
            kept = [m for m in modality if _valid(m)]
            if not kept:
                return None
            parts.append(f"modality in {string_list(kept)}")
        if where is not None:
            for key, value in where.items():
                if not isinstance(key, str):
                    return None  # metadata keys are strings: a non-string key never matches
                parts += _conditions(f"{field}[{quote(key)}]", value)
    except Unsatisfiable:
        return None
    return " and ".join(f"({p})" for p in parts)


def _valid(s: str) -> bool:
    try:
        quote(s)
    except Unsatisfiable:
        return False
    return True


def _conditions(path: str, value: Any) -> list[str]:
    """Conditions every item whose JSON at ``path`` equals ``value`` (unret's typed equality) satisfies."""
    if isinstance(value, bool):
        return [f"{path} == {'true' if value else 'false'}"]  # also matches 1 / 0: re-checked in Python
    if isinstance(value, int | float):
        return [f"{path} == {_number(value)}"]
    if isinstance(value, str):
        return [f"{path} == {quote(value)}"]
    if value is None:
        return [f"{path} is null"]  # also matches a missing key: re-checked in Python
    if isinstance(value, Mapping):
        conds = [c for k, v in value.items() for c in _conditions(f"{path}[{_key(k)}]", v)]
        return conds or [f"exists {path}"]
    if isinstance(value, list | tuple):
        scalars = []
        for v in value:
            if isinstance(v, str):
                scalars.append(quote(v))
            elif isinstance(v, int | float) and not isinstance(v, bool):
                scalars.append(_number(v))
        return [f"json_contains_all({path}, [{', '.join(scalars)}])"] if scalars else [f"exists {path}"]
    raise Unsatisfiable  # a set, bytes, an object: no JSON value equals it


def _key(k: Any) -> str:
    if not isinstance(k, str):
        raise Unsatisfiable
    return quote(k)


def _number(v: int | float) -> str:
    if isinstance(v, float):
        if not math.isfinite(v):
            raise Unsatisfiable  # metadata is finite JSON
        return repr(float(v))
    if not INT64[0] <= v <= INT64[1]:
        raise Unsatisfiable  # the Milvus store refuses such integers in metadata
    return str(int(v))
