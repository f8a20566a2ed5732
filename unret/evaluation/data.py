"""BEIR-format retrieval data sets: load them strictly, write them back.

The format (BEIR, also used by CoIR and most MTEB retrieval sets) is a folder with

* ``corpus.jsonl`` — one document per line: ``{"_id", "title", "text"}``; unret also reads an ``image``
  path (relative to the folder), a ``code`` field with an optional ``language``, and a ``modality`` hint
  (``text`` | ``code`` | ``image`` | ``image+text``). CoIR stores code in ``text``: ``"modality": "code"``
  or a ``language`` field marks it as code;
* ``queries.jsonl`` — ``{"_id", "text"}`` with the same optional fields;
* ``qrels/{split}.tsv`` — a header ``query-id	corpus-id	score`` and one integer judgement per row.

Every entry becomes an *item spec*: a ready unret input (``Text``, ``Code``, an image ``Path`` or an
``(image Path, text)`` pair), so the same spec feeds dense encoders, BM25 and fingerprints. A malformed
line raises `DataFormatError` naming the file and line, because a silently skipped document or
judgement changes every metric computed on the set.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unret.errors import DataFormatError
from unret.items import IMAGE_EXTENSIONS, MODALITIES, Code, Text

ItemSpec = Text | Code | Path | tuple[Path, str]
Qrels = dict[str, dict[str, int]]

QRELS_HEADER = ("query-id", "corpus-id", "score")
_KNOWN_KEYS = frozenset({"_id", "title", "text", "code", "language", "image", "modality", "metadata"})


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


# ---------------------------------------------------------------------------------------------- specs


def spec_modality(spec: ItemSpec) -> str:
    """The modality unret will embed the spec as."""
    if isinstance(spec, Code):
        return "code"
    if isinstance(spec, Text):
        return "text"
    if isinstance(spec, tuple):
        return "image+text"
    if isinstance(spec, Path):
        return "image"
    raise TypeError(f"not an item spec: {spec!r}")


def spec_text(spec: ItemSpec) -> str:
    """The spec's text (code counts as text; a bare image has none) — what BM25 reads."""
    if isinstance(spec, (Text, Code)):
        return spec.text
    if isinstance(spec, tuple):
        return spec[1]
    return ""


def corpus_fingerprint(corpus: Mapping[str, ItemSpec]) -> str:
    """sha256 over sorted (id, modality, language, text, image bytes): equal iff the corpus embeds equally."""
    h = hashlib.sha256()
    for doc_id in sorted(corpus):
        spec = corpus[doc_id]
        h.update(_frame(doc_id))
        h.update(_frame(spec_modality(spec)))
        h.update(_frame((spec.language or "") if isinstance(spec, Code) else ""))
        h.update(_frame(spec_text(spec)))
        image = spec if isinstance(spec, Path) else spec[0] if isinstance(spec, tuple) else None
        h.update(_frame(hashlib.sha256(image.read_bytes()).hexdigest() if image is not None else ""))
    return h.hexdigest()


def _frame(s: str) -> bytes:
    """Length-prefixed bytes, so ("ab", "c") and ("a", "bc") hash differently."""
    b = s.encode("utf-8")
    return len(b).to_bytes(8, "little") + b


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


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise FileNotFoundError(f"missing {path}")
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataFormatError(path, n, f"invalid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(row, dict):
                raise DataFormatError(path, n, f"expected a JSON object, got {type(row).__name__}")
            yield n, row


def read_entries(path: str | os.PathLike, root: str | os.PathLike | None = None,
                 kind: str = "document") -> dict[str, ItemSpec]:
    """Read a ``corpus.jsonl`` / ``queries.jsonl`` file into ``{id: item spec}`` (image paths under ``root``)."""
    path = Path(path)
    base = Path(root) if root is not None else path.parent
    out: dict[str, ItemSpec] = {}
    for n, row in _jsonl_rows(path):
        doc_id = row.get("_id")
        if isinstance(doc_id, int) and not isinstance(doc_id, bool):
            doc_id = str(doc_id)
        if not isinstance(doc_id, str) or not doc_id.strip():
            raise DataFormatError(path, n, f"{kind} has no '_id' (a non-empty string), got {doc_id!r}")
        if doc_id in out:
            raise DataFormatError(path, n, f"duplicate {kind} id {doc_id!r}")
        out[doc_id] = _row_spec(row, path, n, base, kind)
    return out


def _row_spec(row: dict[str, Any], path: Path, n: int, base: Path, kind: str) -> ItemSpec:
    def fail(message: str) -> DataFormatError:
        return DataFormatError(path, n, f"{kind} {row['_id']!r}: {message}")

    for key in ("title", "text", "code", "language", "modality"):
        if key in row and row[key] is not None and not isinstance(row[key], str):
            raise fail(f"'{key}' must be a string, got {type(row[key]).__name__}")
    modality = row.get("modality")
    if modality is not None and modality not in MODALITIES:
        raise fail(f"unknown modality {modality!r} (expected one of {list(MODALITIES)})")
    title = (row.get("title") or "").strip()
    text = row.get("text")
    image = row.get("image")

    if image is not None or modality in ("image", "image+text"):
        if not isinstance(image, str) or not image.strip():
            raise fail("image entry needs an 'image' path")
        image_path = (base / image).expanduser()
        if image_path.suffix.lower() not in IMAGE_EXTENSIONS:
            raise fail(f"'image' must name an image file ({', '.join(sorted(IMAGE_EXTENSIONS))}), got {image!r}")
        if not image_path.is_file():
            raise fail(f"image file not found: {image_path}")
        caption = " ".join(s for s in (title, (text or "").strip()) if s)
        if modality == "image+text" and not caption:
            raise fail("modality 'image+text' needs a non-empty 'text' or 'title'")
        return (image_path, caption) if caption and modality != "image" else image_path

    code = row.get("code")
    language = row.get("language") or None
    if code is not None or modality == "code" or (language is not None and modality is None):
        source = code if code is not None else text
        if source is None:
            raise fail("code entry needs a 'code' or 'text' field")
        if not source.strip():
            raise fail("empty code")
        return Code(source, language)

    if text is None:
        raise fail("missing 'text'")
    content = f"{title} {text.strip()}" if title else text.strip()  # BEIR joins title and text this way
    if not content.strip():
        raise fail("empty 'text' (and no title)")
    return Text(content)


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


def spec_row(entry_id: str, spec: ItemSpec | Mapping[str, Any], root: Path | None = None) -> dict[str, Any]:
    """The JSONL row for one spec (code goes in ``text`` as CoIR does, marked ``modality: code``)."""
    if isinstance(spec, Mapping):
        raw = {"_id": entry_id, **spec}
        unknown = set(raw) - _KNOWN_KEYS
        if unknown:
            raise ValueError(f"entry {entry_id!r}: unknown keys {sorted(unknown)}")
        return raw
    if isinstance(spec, Code):
        row: dict[str, Any] = {"_id": entry_id, "title": "", "text": spec.text, "modality": "code"}
        if spec.language:
            row["language"] = spec.language
        return row
    if isinstance(spec, Text):
        return {"_id": entry_id, "title": "", "text": spec.text}
    if isinstance(spec, str):
        return {"_id": entry_id, "title": "", "text": spec}
    image, text = (spec if isinstance(spec, tuple) else (spec, ""))
    image = Path(image)
    if root is not None:
        try:
            image = image.resolve().relative_to(root.resolve())
        except ValueError:
            image = image.resolve()
    row = {"_id": entry_id, "title": "", "text": text, "image": image.as_posix()}
    row["modality"] = "image+text" if text else "image"
    return row


def write_jsonl(path: str | os.PathLike, rows: Any) -> int:
    """Write rows as JSON lines (UTF-8, not ASCII-escaped) through a temporary file; returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)
    return n


def write_qrels(path: str | os.PathLike, qrels: Mapping[str, Mapping[str, int]]) -> None:
    """Write a qrels TSV with the BEIR header."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        f.write("\t".join(QRELS_HEADER) + "\n")
        for qid, judged in qrels.items():
            for docid, score in judged.items():
                for name, value in (("query id", qid), ("corpus id", docid)):
                    if any(c in value for c in "\t\r\n"):
                        raise ValueError(f"{name} {value!r} contains a tab or newline; qrels cannot hold it")
                f.write(f"{qid}\t{docid}\t{int(score)}\n")
    tmp.replace(path)


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
