"""Files of a corpus: walking folders, canonical ids, content hashes, and items (chunks) per file.

Canonical ids: a file's id is its absolute path with symlinks resolved (``Path.resolve()``), so
``./src/a.py``, ``src/../src/a.py`` and ``/home/me/src/a.py`` are one file, and one index can hold several
folders without two ``README.md`` colliding. Moving a corpus therefore changes its ids (index it again
with ``--sync`` from the new place and remove the old folder with ``unret remove``). A file name that is
not valid UTF-8 (``caf\\xe9.txt`` on Linux) gets its undecodable bytes written as ``\\xNN`` escapes, so the
id can be stored and printed. A file cut into several chunks gives ids ``<path>#L<start>-<end>``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unret.chunking import ChunkSettings, chunk_document
from unret.items import (
    CODE_LANGUAGES,
    IMAGE_EXTENSIONS,
    TEXT_EXTENSIONS,
    VIDEO_EXTENSIONS,
    Item,
    _decode_text,
    to_item,
)
from unret.keys import content_digest

SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", ".tox", ".mypy_cache",
                       ".pytest_cache", ".ruff_cache", "site-packages"})
INDEXABLE = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS | frozenset(CODE_LANGUAGES) | TEXT_EXTENSIONS
SNIPPET_LINES, SNIPPET_CHARS = 6, 320


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files under ``paths`` (sorted, hidden and tool folders skipped); a missing path raises."""
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_file():
            yield path
        elif path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path).parts
                if child.is_file() and not any(p in SKIP_DIRS or p.startswith(".") for p in rel):
                    yield child
        else:
            raise FileNotFoundError(f"no such file or folder: {raw}")


def canonical_id(path: str | os.PathLike) -> str:
    """The id of a file: absolute, ``~`` expanded, ``..`` and symlinks resolved, always valid UTF-8."""
    resolved = str(Path(path).expanduser().resolve())
    return resolved.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def id_exists(source: str) -> bool:
    """Whether the file a canonical id names is still on disk (``\\xNN`` escapes read back as raw bytes)."""
    raw = _ESCAPE.sub(lambda m: chr(0xDC00 + int(m.group(1), 16)), source)
    return any(os.path.exists(candidate) for candidate in {source, raw})


_ESCAPE = re.compile(r"\\x([89a-f][0-9a-f])")


def is_under(source: str, root: str) -> bool:
    """Whether canonical id ``source`` is ``root`` or inside it (both canonical)."""
    return source == root or source.startswith(root.rstrip(os.sep) + os.sep)


@dataclass
class SourceFile:
    """One file to index: its path on disk, canonical id, size and modification time."""

    path: Path
    id: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> SourceFile:
        st = path.stat()
        return cls(path, canonical_id(path), st.st_size, st.st_mtime_ns)

    @property
    def is_image(self) -> bool:
        return self.path.suffix.lower() in IMAGE_EXTENSIONS

    @property
    def is_video(self) -> bool:
        return self.path.suffix.lower() in VIDEO_EXTENSIONS

    @property
    def modality(self) -> str:
        """What the file is embedded as, by its extension: "image", "video", or "text" (text and code)."""
        return "image" if self.is_image else "video" if self.is_video else "text"

    def same_stat(self, meta: dict[str, Any]) -> bool:
        return meta.get("size") == self.size and meta.get("mtime_ns") == self.mtime_ns


def sha256_bytes(data: bytes) -> str:
    """A file's content hash for incremental sync: the content-key rule of `unret.keys`."""
    return content_digest(data)


class FileSkipped(Exception):
    """A file that cannot be indexed (binary, unreadable, not an image); the message says why."""


class EmptyFile(FileSkipped):
    """A file with nothing to embed (no bytes, or only whitespace): not a failure, nothing to report."""


def file_items(file: SourceFile, data: bytes, settings: ChunkSettings) -> list[tuple[str, Item, dict[str, Any]]]:
    """(id, item, metadata) for each chunk of ``file`` whose bytes are ``data``."""
    base = {"source": file.id, "sha256": sha256_bytes(data), "size": file.size, "mtime_ns": file.mtime_ns}
    if file.is_image:
        item = to_item(file.path)  # reads the header: a non-image, truncated header or pixel bomb raises here
        return [(file.id, Item("image", image=file.path, source=file.id, size=item.size), base)]
    if file.is_video:
        item = to_item(file.path)  # reads the container's header: a non-video or damaged file raises here
        return [(file.id, Item("video", video=file.path, source=file.id, size=item.size), base)]
    text = _decode_text(data)
    if text is None:
        raise FileSkipped("not a text, code or image file (binary, or no text encoding fits)")
    if not text.strip():
        raise EmptyFile("empty file; nothing to embed")
    suffix = file.path.suffix.lower()
    language = CODE_LANGUAGES.get(suffix)
    chunks = chunk_document(text, settings, language, suffix)
    out = []
    for chunk in chunks:
        item_id = file.id if len(chunks) == 1 else f"{file.id}#L{chunk.start_line}-{chunk.end_line}"
        meta = {**base, "chunking": settings.key, "start_line": chunk.start_line, "end_line": chunk.end_line,
                "kind": chunk.kind,
                "snippet": snippet(chunk.text)}
        if chunk.start_col is not None:  # a window of one long line: its characters
            item_id = f"{file.id}#L{chunk.start_line}C{chunk.start_col}-{chunk.end_col}"
            meta.update(start_col=chunk.start_col, end_col=chunk.end_col)
        if language:
            meta["language"] = language
        if chunk.name:
            meta["name"] = chunk.name
        if chunk.truncated:
            meta["truncated"] = True
        if len(chunks) > 1:  # a file missing some of its chunks (one was removed) is embedded again
            meta["chunks"] = len(chunks)
        item = Item("code", text=chunk.text, language=language, source=file.id) if language else Item(
            "text", text=chunk.text, source=file.id)
        out.append((item_id, item, meta))
    return out


def snippet(text: str) -> str:
    """The first non-blank lines of a chunk, for showing a hit without opening the file."""
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    shown = "\n".join(lines[:SNIPPET_LINES])
    return shown if len(shown) <= SNIPPET_CHARS else shown[: SNIPPET_CHARS - 1] + "…"
