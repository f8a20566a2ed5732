"""The search-strategy registry: a search mode is one module and one `register_mode` call.

`UnifiedRetriever.search(mode=…)`, the server's request schema and ``/info``, ``unret search --mode`` and
``unret evaluate --mode`` all read this table, so a mode registered here shows up in every one of them.
A builder receives a `SearchContext` (what an index or a data set offers: the query encoder, the vector
store, the lexical side, the catalog) and the caller's options, and returns a `Retriever`.

``"<mode>+rerank"`` composes: the first stage is the registered ``<mode>``, then a reranker re-scores its
top ``rerank_depth`` (see `unret.search.rerank`); the suffix is parsed here, for every mode alike.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from unret.search.base import Retriever

RERANK_SUFFIX = "+rerank"
NEEDS = frozenset({"vectors", "lexical"})

Builder = Callable[..., Retriever]


@dataclass
class SearchContext:
    """What a search strategy may use, built by one method of its owner (`UnifiedRetriever.search_context`,
    evaluation's data-set adapter): the parts a mode does not need may be None.

    ``lexical`` may be given as a zero-argument factory, called on first use: an older index builds its
    BM25 side from source files, which dense search should not pay for.
    """

    encoder: Any = None  # has encode_queries(items, convert_to="numpy", **encode_kwargs)
    vectors: Any = None  # has search(queries, k, modality, where, exact) -> list[list[Hit]]
    lexical_source: Any = None  # a LexicalIndex, or a factory returning one
    catalog_get: Callable[[str], tuple[str, dict]] | None = None  # id -> (modality, metadata)
    text_of: Callable[[str], str | None] | None = None  # id -> indexed text (what a reranker reads)
    accepts: Callable[[str], bool] | None = None  # optional batched filter hook of a document store
    exact: bool = False
    encode_kwargs: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def lexical(self) -> Any:
        source = self.lexical_source
        return source() if callable(source) else source


@dataclass(frozen=True)
class Mode:
    """A registered search mode: its builder, a one-line description and what it needs from a context."""

    name: str
    builder: Builder
    description: str
    needs: frozenset[str]


_MODES: dict[str, Mode] = {}


def register_mode(name: str, builder: Builder, description: str, needs: Collection[str] = ()) -> Builder:
    """Register ``builder(context, **options) -> Retriever`` as search mode ``name``; returns the builder.

    ``needs`` says which parts of a `SearchContext` the mode reads (``"vectors"``, ``"lexical"``), so an
    owner that builds them at a cost (evaluation encodes a corpus for ``"vectors"``) builds only those.
    Re-registering a name replaces it (a test or plugin may override a built-in mode).
    """
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"a mode name is letters, digits, '-' and '_', got {name!r}")
    unknown = set(needs) - NEEDS
    if unknown:
        raise ValueError(f"needs must be among {sorted(NEEDS)}, got {sorted(unknown)}")
    _MODES[name] = Mode(name, builder, description, frozenset(needs))
    return builder


def unregister_mode(name: str) -> None:
    """Forget a mode (tests register temporary ones)."""
    _MODES.pop(name, None)


def modes() -> tuple[str, ...]:
    """The registered first-stage modes, in registration order (``"<mode>+rerank"`` is valid for each)."""
    return tuple(_MODES)


def describe() -> dict[str, str]:
    """``{mode: description}`` of the registered modes (what ``/info`` and ``--help`` show)."""
    return {name: mode.description for name, mode in _MODES.items()}


def split_mode(mode: str) -> tuple[str, bool]:
    """``("hybrid", True)`` for ``"hybrid+rerank"``; a ValueError naming the choices for an unknown mode."""
    if not isinstance(mode, str):
        raise ValueError(f"mode must be a string, got {type(mode).__name__}")
    base, rerank = (mode[: -len(RERANK_SUFFIX)], True) if mode.endswith(RERANK_SUFFIX) else (mode, False)
    if base not in _MODES:
        raise ValueError(f"mode must be one of {modes()} (each also as '<mode>{RERANK_SUFFIX}'), got {mode!r}")
    return base, rerank


def check_mode(mode: str) -> str:
    """``mode`` if it names a registered mode (``+rerank`` allowed), else a ValueError listing the choices."""
    split_mode(mode)
    return mode


def needs(mode: str) -> frozenset[str]:
    """What ``mode``'s first stage reads from a context."""
    return _MODES[split_mode(mode)[0]].needs


def build(mode: str, context: SearchContext, rerank: Any = None, rerank_depth: int = 100,
          **options: Any) -> Retriever:
    """The `Retriever` of ``mode`` over ``context``; options go to the mode's builder.

    A reranker (``rerank=``: a `unret.rerank.Reranker` or a path `load_reranker` reads) wraps the first
    stage; ``"<mode>+rerank"`` requires one.
    """
    base, wants_rerank = split_mode(mode)
    retriever = _MODES[base].builder(context, **options)
    if wants_rerank and rerank is None:
        raise ValueError(f"mode {mode!r} needs a reranker: pass rerank= (a reranker or its path)")
    if rerank is None:
        return retriever
    from unret.search.rerank import RerankRetriever

    return RerankRetriever(retriever, rerank, context, depth=rerank_depth)
