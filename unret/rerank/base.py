"""The reranker interface: a model that reads a query and a document *together* and scores the pair.

A bi-encoder embeds query and document apart, so one index serves every query; a cross-encoder sees both
at once and ranks better, but costs a forward pass per pair. So it re-scores the top of a first stage
(`unret.search.rerank`) and scores teacher lists for listwise distillation (`unret.training.mining`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from unret.items import Item, to_item


class Reranker(ABC):
    """Scores (query, document) pairs; higher is more relevant. Subclasses implement `score_items`.

    ``reranker(query, documents)`` scores one query's list (the shape `unret.training.mining` calls a
    teacher with); `score_pairs` scores any pairs, batched.
    """

    #: the modalities the model reads (a query or document of another modality cannot be scored)
    modalities: frozenset[str] = frozenset({"text", "code"})
    batch_size: int = 16

    def accepts(self, item: Item) -> bool:
        """Whether the model can read ``item`` (a text cross-encoder cannot read an image)."""
        return item.modality in self.modalities

    @abstractmethod
    def score_items(self, queries: Sequence[Item], documents: Sequence[Item]) -> np.ndarray:
        """Scores of ``(queries[i], documents[i])`` for one batch, as float32 (n,)."""

    def score_pairs(self, queries: Sequence[Any], documents: Sequence[Any],
                    batch_size: int | None = None) -> np.ndarray:
        """Scores of ``(queries[i], documents[i])`` (anything ``unret.items.to_item`` reads), in batches."""
        if len(queries) != len(documents):
            raise ValueError(f"got {len(queries)} queries but {len(documents)} documents")
        q_items = [_item(q, i, "query") for i, q in enumerate(queries)]
        d_items = [_item(d, i, "document") for i, d in enumerate(documents)]
        for what, items in (("query", q_items), ("document", d_items)):
            bad = next((i for i, item in enumerate(items) if not self.accepts(item)), None)
            if bad is not None:
                raise ValueError(f"{what} #{bad} is {items[bad].modality!r}, which this reranker cannot read "
                                 f"(it reads {sorted(self.modalities)})")
        size = batch_size or self.batch_size
        # longest pairs first, so each batch pads to similar lengths (as sentence-transformers does); the
        # scores go back to input order, and a pair's score does not depend on its batch-mates
        order = sorted(range(len(q_items)), key=lambda i: -_length(q_items[i], d_items[i]))
        scores = np.zeros(len(order), dtype=np.float32)
        for start in range(0, len(order), size):
            rows = order[start:start + size]
            scores[rows] = self.score_items([q_items[i] for i in rows], [d_items[i] for i in rows])
        return scores

    def __call__(self, query: Any, documents: Sequence[Any]) -> list[float]:
        """Scores of ``documents`` for one ``query``, in list order."""
        return self.score_pairs([query] * len(documents), list(documents)).tolist()


def _length(query: Item, document: Item) -> int:
    """A pair's size for length sorting: characters of text, an image counting as a long text."""
    return sum(len(i.text or "") + (4096 if i.has_image else 0) for i in (query, document))


def _item(obj: Any, position: int, what: str) -> Item:
    if isinstance(obj, Item):
        return obj
    try:
        return to_item(obj, position)
    except Exception as e:
        raise ValueError(f"{what} #{position}: {e}") from e
