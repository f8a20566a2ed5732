"""Backbone kinds registered by what they handle, so a new family is one file.

Each backbone module decorates its class with :func:`register`, declaring the ``model_type`` values of
transformers configs it runs (``qwen2_5_vl``…) and/or a ``claims`` test for names and folders that are
not plain transformers checkpoints (``open_clip:…``, a saved fusion head, a sentence-transformers package
with modules unret does not run). :func:`detect_kind` asks the claims first, then the config's
``model_type``, and falls back to the kind registered with ``default=True`` (any transformers text model).
The decorator also sets the class's ``kind``, the one place a kind's name is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Claim = Callable[[str, "str | None"], bool]


@dataclass(frozen=True)
class Registration:
    """One backbone kind: its class, the config ``model_type``s it runs and an optional name/folder claim."""

    kind: str
    cls: type
    model_types: frozenset[str]
    claims: Claim | None = None
    default: bool = False


REGISTRY: dict[str, Registration] = {}


def register(kind: str, *, model_types: tuple[str, ...] | frozenset[str] = (), claims: Claim | None = None,
             default: bool = False) -> Callable[[type], type]:
    """Class decorator: make ``cls`` the backbone of kind ``kind`` (and set ``cls.kind``)."""
    def decorate(cls: type) -> type:
        if kind in REGISTRY and REGISTRY[kind].cls is not cls:
            raise ValueError(f"backbone kind {kind!r} is already registered to {REGISTRY[kind].cls.__name__}")
        taken = {t: r.kind for r in REGISTRY.values() for t in r.model_types if r.kind != kind}
        clash = sorted(t for t in model_types if t in taken)
        if clash:
            raise ValueError(f"model_type(s) {clash} already handled by {[taken[t] for t in clash]}")
        if default and any(r.default and r.kind != kind for r in REGISTRY.values()):
            raise ValueError("only one backbone kind can be the default")
        cls.kind = kind
        REGISTRY[kind] = Registration(kind, cls, frozenset(model_types), claims, default)
        return cls

    return decorate


def backbone_class(kind: str) -> type:
    """The class registered for ``kind``; a clear error listing the known kinds otherwise."""
    if kind not in REGISTRY:
        raise ValueError(f"unknown backbone kind {kind!r}; choose one of {sorted(REGISTRY)}")
    return REGISTRY[kind].cls


def load_config(name_or_path: str, revision: str | None = None) -> dict[str, Any]:
    """The raw ``config.json`` of a hub name or folder (any ``model_type``, even one transformers lacks)."""
    from transformers import PretrainedConfig

    try:
        return PretrainedConfig.get_config_dict(name_or_path, revision=revision)[0]
    except OSError as exc:
        raise OSError(
            f"cannot load model {name_or_path!r}: not a local folder with a config.json and not reachable on "
            f"the Hugging Face hub (offline? set HF_HUB_OFFLINE=1 and point to a local copy). Cause: {exc}"
        ) from exc


def detect_kind(name_or_path: str, revision: str | None = None) -> str:
    """The backbone kind for a (resolved) model name: claims first, then the config's ``model_type``."""
    for registration in REGISTRY.values():
        if registration.claims is not None and registration.claims(name_or_path, revision):
            return registration.kind
    model_type = load_config(name_or_path, revision).get("model_type")
    for registration in REGISTRY.values():
        if model_type in registration.model_types:
            return registration.kind
    defaults = [r.kind for r in REGISTRY.values() if r.default]
    if not defaults:
        raise ValueError(f"no backbone handles model_type {model_type!r} of {name_or_path!r}")
    return defaults[0]
