"""The one record codec: a JSON record ↔ an `ItemSpec`, and JSON-lines files read and written.

A record is the JSON form of one input, the same in BEIR corpora and queries, training JSONL and mined
data: ``{"text"}``, ``{"code", "language"}`` (or CoIR's code in ``text`` marked ``"modality": "code"``, or
a ``language`` without a modality), ``{"image": path, "text": optional caption}``, optionally with a
BEIR ``title`` (joined before the text) and a ``modality`` hint (``text`` | ``code`` | ``image`` |
``image+text``). In training JSONL a bare string is text. Image paths are relative to the file's
folder. `spec_from_record` reads one; `spec_record` writes one; `unret.items.to_item` turns the spec
into an ``Item``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from unret.atomic import atomic_open
from unret.errors import DataFormatError, RecordError
from unret.items import IMAGE_EXTENSIONS, MODALITIES, Code, ItemSpec, Text

RECORD_KEYS = frozenset({"title", "text", "code", "language", "image", "modality"})


def spec_from_record(record: Any, base: Path, strict: bool = False) -> ItemSpec:
    """The item spec of one record (rules in the module docstring); ``strict`` refuses unknown keys.

    A string is text as it is (``to_item`` checks it); a record's ``text`` is stripped, as BEIR does.
    """
    if isinstance(record, str):
        return Text(record)
    if not isinstance(record, dict):
        raise RecordError(f"an item must be a string or an object, got {type(record).__name__}")
    if strict:
        unknown = set(record) - RECORD_KEYS
        if unknown:
            raise RecordError(f"unknown keys {sorted(unknown)}")
    for key in ("title", "text", "code", "language", "modality"):
        if key in record and record[key] is not None and not isinstance(record[key], str):
            raise RecordError(f"'{key}' must be a string, got {type(record[key]).__name__}")
    modality = record.get("modality")
    if modality is not None and modality not in MODALITIES:
        raise RecordError(f"unknown modality {modality!r} (expected one of {list(MODALITIES)})")
    title = (record.get("title") or "").strip()
    text = record.get("text")
    image = record.get("image")

    if image is not None or modality in ("image", "image+text"):
        if not isinstance(image, str) or not image.strip():
            raise RecordError("image entry needs an 'image' path")
        image_path = (base / image).expanduser()
        if image_path.suffix.lower() not in IMAGE_EXTENSIONS:
            raise RecordError(f"'image' must name an image file ({', '.join(sorted(IMAGE_EXTENSIONS))}), "
                              f"got {image!r}")
        if not image_path.is_file():
            raise RecordError(f"image file not found: {image_path}")
        caption = " ".join(s for s in (title, (text or "").strip()) if s)
        if modality == "image+text" and not caption:
            raise RecordError("modality 'image+text' needs a non-empty 'text' or 'title'")
        return (image_path, caption) if caption and modality != "image" else image_path

    code = record.get("code")
    language = record.get("language") or None
    if code is not None or modality == "code" or (language is not None and modality is None):
        source = code if code is not None else text
        if source is None:
            raise RecordError("code entry needs a 'code' or 'text' field")
        if not source.strip():
            raise RecordError("empty code")
        return Code(source, language)

    if text is None:
        raise RecordError("missing 'text'")
    content = f"{title} {text.strip()}" if title else text.strip()  # BEIR joins title and text this way
    if not content.strip():
        raise RecordError("empty 'text' (and no title)")
    return Text(content)


def spec_record(spec: ItemSpec | str, root: Path | None = None) -> dict[str, Any]:
    """The record of one spec (code goes in ``text`` as CoIR does, marked ``modality: code``).

    Image paths inside ``root`` are written relative to it, others absolute.
    """
    if isinstance(spec, Code):
        record: dict[str, Any] = {"text": spec.text, "modality": "code"}
        if spec.language:
            record["language"] = spec.language
        return record
    if isinstance(spec, (Text, str)):
        return {"text": spec.text if isinstance(spec, Text) else spec}
    image, text = spec if isinstance(spec, tuple) else (spec, "")
    image = Path(image).resolve()
    if root is not None:
        with contextlib.suppress(ValueError):  # outside root: keep it absolute
            image = image.relative_to(Path(root).resolve())
    return {"text": text, "image": image.as_posix(), "modality": "image+text" if text else "image"}


def jsonl_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """(line number, text) of every non-blank line of a UTF-8 file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing {path}")
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                yield n, line


def parse_json_line(path: str | os.PathLike, n: int, line: str) -> Any:
    """One line's JSON value; bad JSON raises `DataFormatError` naming ``path:n``."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as e:
        raise DataFormatError(path, n, f"invalid JSON ({e.msg} at column {e.colno})") from None


def read_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) of every non-blank line; bad JSON raises `DataFormatError` (file:line)."""
    for n, line in jsonl_lines(path):
        yield n, parse_json_line(path, n, line)


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> int:
    """Write rows as JSON lines (UTF-8, not ASCII-escaped), atomically; returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with atomic_open(path, "w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n
