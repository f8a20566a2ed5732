"""Keep the lexical index in step with the vector index's catalog.

An index saved before the lexical index existed has none, and a crash between saving the vector index and
the lexical one can leave them out of step. The catalog is the truth: ids it lacks are dropped, and ids
it has are filled from the file each was indexed from (``metadata["source"]``), when that file is still
readable text or code. Ids whose text cannot be recovered (in-memory inputs, moved files) stay empty for
BM25 — dense search is unaffected — and a warning says how many.
"""

from __future__ import annotations

import logging
from pathlib import Path

from unret.errors import InputError
from unret.index import VectorIndex
from unret.search.bm25 import LexicalIndex

logger = logging.getLogger(__name__)


def _source_text(source: object) -> str | None:
    from unret.items import to_item

    if not isinstance(source, str) or not Path(source).is_file():
        return None
    try:
        item = to_item(Path(source))
    except (InputError, OSError):
        return None
    return item.text if item.modality in ("text", "code") else ""


def reconcile(lexical: LexicalIndex, index: VectorIndex) -> LexicalIndex:
    """Drop lexical ids the catalog lacks; fill ids it lacks from their source files. Returns ``lexical``."""
    ids = set(index.ids())
    stale = [i for i in lexical.ids() if i not in ids]
    lexical.remove(stale)
    missing = [i for i in ids if i not in lexical]
    if not missing:
        return lexical
    texts, lost = [], 0
    for doc_id in missing:
        modality, meta = index.get(doc_id)
        text = _source_text(meta.get("source"))
        if text is None:
            lost += modality != "image"  # a bare image has no text to lose
            text = ""
        texts.append(text)
    lexical.add(missing, texts)
    if lost:
        logger.warning("lexical index: the text of %d of %d documents could not be recovered from their source "
                       "files; they are invisible to lexical search until re-added", lost, len(missing))
    return lexical


def lexical_from_catalog(index: VectorIndex) -> LexicalIndex:
    """A lexical index for a vector index that has none (saved before lexical search existed)."""
    return reconcile(LexicalIndex(), index)
