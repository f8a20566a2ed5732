"""BEIR-format retrieval data sets: load them strictly, write them back.

The format (BEIR, also used by CoIR and most MTEB retrieval sets) is a folder with

* ``corpus.jsonl`` — one document per line: ``{"_id", "title", "text"}``; unret also reads an ``image``
  path (relative to the folder), a ``code`` field with an optional ``language``, and a ``modality`` hint
  (``text`` | ``code`` | ``image`` | ``image+text``). CoIR stores code in ``text``: ``"modality": "code"``
  or a ``language`` field marks it as code (the record rules are `unret.formats.records`');
* ``queries.jsonl`` — ``{"_id", "text"}`` with the same optional fields;
* ``qrels/{split}.tsv`` — a header ``query-id	corpus-id	score`` and one integer judgement per row.

Every entry becomes an `ItemSpec`, so the same spec feeds dense encoders, BM25 and fingerprints. A
malformed line raises `DataFormatError` naming the file and line, because a silently skipped document or
judgement changes every metric computed on the set.
"""

from __future__ import annotations

import csv
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unret.atomic import atomic_open
from unret.errors import DataFormatError
from unret.formats.records import RECORD_KEYS, RecordError, read_jsonl, spec_from_record, spec_record, write_jsonl
from unret.items import ItemSpec
from unret.keys import corpus_fingerprint

Qrels = dict[str, dict[str, int]]

QRELS_HEADER = ("query-id", "corpus-id", "score")
_KNOWN_KEYS = RECORD_KEYS | {"_id", "metadata"}


@dataclass
class RetrievalDataset:
    """Corpus and queries as item specs, and graded judgements ``qrels[qid][docid] = relevance``.

    ``queries`` holds only the queries judged in ``split`` when loaded with `load_beir`.
    """

    corpus: dict[str, ItemSpec]
    queries: dict[str, ItemSpec]
    qrels: Qrels
    name: str | None = None
    split: str | None = None
    root: Path | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for qid, judged in self.qrels.items():
            if qid not in self.queries:
                raise ValueError(f"qrels name query {qid!r}, which is not among the queries")
            missing = [d for d in judged if d not in self.corpus]
            if missing:
                raise ValueError(f"qrels of query {qid!r} name documents not in the corpus: {missing[:5]!r}")

    def fingerprint(self) -> str:
        """sha256 over the corpus ids and contents (image bytes included), independent of line order."""
        return corpus_fingerprint(self.corpus)

    def judged_subset(self, max_queries: int | None = None, seed: int = 0) -> RetrievalDataset:
        """Up to ``max_queries`` judged queries (a seeded sample) over only the documents judged here.

        For a training split of a shared-corpus set (stdlib-code, emoji) this keeps mining and teacher
        scoring inside the training documents, so no held-out document leaks into training data.
        """
        qids = sorted(self.qrels)
        random.Random(seed).shuffle(qids)
        qids = qids[:max_queries]
        judged = sorted({d for rels in self.qrels.values() for d in rels})
        return RetrievalDataset(corpus={d: self.corpus[d] for d in judged},
                                queries={q: self.queries[q] for q in qids},
                                qrels={q: self.qrels[q] for q in qids}, name=self.name, split=self.split)


# ---------------------------------------------------------------------------------------------- loading


def load_beir(folder: str | os.PathLike, split: str = "test") -> RetrievalDataset:
    """Load a BEIR folder's corpus, the queries judged in ``split`` and that split's qrels.

    Raises `DataFormatError` (``file:line: what``) for bad JSON, a missing ``_id`` or text, a
    duplicate id, an image that does not exist, a bad qrels row or a qrels row naming an unknown id.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"no BEIR data set folder at {root}")
    corpus = read_entries(root / "corpus.jsonl", root, kind="document")
    queries = read_entries(root / "queries.jsonl", root, kind="query")
    qrels_file = root / "qrels" / f"{split}.tsv"
    if not qrels_file.is_file():
        have = sorted(p.stem for p in (root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
        raise FileNotFoundError(f"no qrels for split {split!r} at {qrels_file} (splits here: {have})")
    qrels = read_qrels(qrels_file, queries=queries.keys(), corpus=corpus.keys())
    judged = {qid: queries[qid] for qid in queries if qid in qrels}
    return RetrievalDataset(corpus, judged, qrels, name=root.name, split=split, root=root)


def read_entries(path: str | os.PathLike, root: str | os.PathLike | None = None,
                 kind: str = "document") -> dict[str, ItemSpec]:
    """Read a ``corpus.jsonl`` / ``queries.jsonl`` file into ``{id: item spec}`` (image paths under ``root``)."""
    path = Path(path)
    base = Path(root) if root is not None else path.parent
    out: dict[str, ItemSpec] = {}
    for n, row in read_jsonl(path):
        if not isinstance(row, dict):
            raise DataFormatError(path, n, f"expected a JSON object, got {type(row).__name__}")
        doc_id = row.get("_id")
        if isinstance(doc_id, int) and not isinstance(doc_id, bool):
            doc_id = str(doc_id)
        if not isinstance(doc_id, str) or not doc_id.strip():
            raise DataFormatError(path, n, f"{kind} has no '_id' (a non-empty string), got {doc_id!r}")
        if doc_id in out:
            raise DataFormatError(path, n, f"duplicate {kind} id {doc_id!r}")
        try:
            out[doc_id] = spec_from_record(row, base)
        except RecordError as exc:
            raise DataFormatError(path, n, f"{kind} {row['_id']!r}: {exc}") from None
    return out


def read_qrels(path: str | os.PathLike, queries: Any = None, corpus: Any = None) -> Qrels:
    """Read a qrels TSV into ``{qid: {docid: score}}``, checking ids against ``queries`` / ``corpus`` if given.

    The ``query-id corpus-id score`` header is optional and TREC's four columns (``qid 0 docid score``)
    are read too; a row repeating a judgement with another score is an error (which one would be right?).
    """
    path = Path(path)
    qrels: Qrels = {}
    with path.open(encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if not row or all(not c.strip() for c in row):
                continue
            if n == 1 and tuple(c.strip().lower() for c in row) == QRELS_HEADER:
                continue
            if len(row) == 4:  # TREC qrels: qid 0 docid score
                row = [row[0], row[2], row[3]]
            if len(row) != 3:
                raise DataFormatError(path, n, f"expected 3 tab-separated columns (query-id, corpus-id, score), "
                                               f"got {len(row)}: {row!r}")
            qid, docid, raw = (c.strip() for c in row)
            if not qid or not docid:
                raise DataFormatError(path, n, f"empty query-id or corpus-id in {row!r}")
            try:
                score = int(raw)
            except ValueError:
                raise DataFormatError(path, n, f"score must be an integer, got {raw!r}") from None
            if queries is not None and qid not in queries:
                raise DataFormatError(path, n, f"unknown query id {qid!r} (not in queries.jsonl)")
            if corpus is not None and docid not in corpus:
                raise DataFormatError(path, n, f"unknown corpus id {docid!r} (not in corpus.jsonl)")
            judged = qrels.setdefault(qid, {})
            if judged.get(docid, score) != score:
                raise DataFormatError(path, n, f"conflicting judgement for ({qid!r}, {docid!r}): "
                                               f"{judged[docid]} then {score}")
            judged[docid] = score
    return qrels


# ---------------------------------------------------------------------------------------------- writing


def spec_row(entry_id: str, spec: ItemSpec | str | Mapping[str, Any], root: Path | None = None) -> dict[str, Any]:
    """The ``corpus.jsonl`` / ``queries.jsonl`` row of one spec, or of a raw row dict (checked for keys)."""
    if isinstance(spec, Mapping):
        raw = {"_id": entry_id, **spec}
        unknown = set(raw) - _KNOWN_KEYS
        if unknown:
            raise ValueError(f"entry {entry_id!r}: unknown keys {sorted(unknown)}")
        return raw
    return {"_id": entry_id, "title": "", **spec_record(spec, root)}


def write_qrels(path: str | os.PathLike, qrels: Mapping[str, Mapping[str, int]]) -> None:
    """Write a qrels TSV with the BEIR header, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for qid, judged in qrels.items():
        for docid in judged:
            for name, value in (("query id", qid), ("corpus id", docid)):
                if any(c in value for c in "\t\r\n"):
                    raise ValueError(f"{name} {value!r} contains a tab or newline; qrels cannot hold it")
    with atomic_open(path, "w", newline="") as f:
        f.write("\t".join(QRELS_HEADER) + "\n")
        for qid, judged in qrels.items():
            for docid, score in judged.items():
                f.write(f"{qid}\t{docid}\t{int(score)}\n")


def write_beir(out_dir: str | os.PathLike, corpus: Mapping[str, ItemSpec | Mapping[str, Any]],
               queries: Mapping[str, ItemSpec | Mapping[str, Any]],
               qrels: Mapping[str, Mapping[str, Mapping[str, int]]]) -> Path:
    """Write a BEIR folder: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/{split}.tsv`` per split.

    ``qrels`` maps split name → judgements. Specs or raw row dicts (without ``_id``) are accepted; image
    paths inside ``out_dir`` are stored relative to it.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for split, judged in qrels.items():
        for qid, docs in judged.items():
            if qid not in queries:
                raise ValueError(f"qrels[{split!r}] names query {qid!r}, which is not among the queries")
            missing = [d for d in docs if d not in corpus]
            if missing:
                raise ValueError(f"qrels[{split!r}][{qid!r}] names unknown documents {missing[:5]!r}")
    write_jsonl(out / "corpus.jsonl", (spec_row(i, s, out) for i, s in corpus.items()))
    write_jsonl(out / "queries.jsonl", (spec_row(i, s, out) for i, s in queries.items()))
    for split, judged in qrels.items():
        write_qrels(out / "qrels" / f"{split}.tsv", judged)
    return out
