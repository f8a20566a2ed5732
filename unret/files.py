"""Index folders of images, code and text files, skipping what cannot be read instead of aborting.

One bad file among thousands should cost a warning, not the run: files are normalised one by one
(missing, unreadable, binary, not an image), and a file that only fails when decoded inside a batch
(a truncated image) is dropped from that batch, which is then retried.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from unret.items import CODE_LANGUAGES, IMAGE_EXTENSIONS, TEXT_EXTENSIONS, InputError, Item, to_item

log = logging.getLogger(__name__)

SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", ".tox", ".mypy_cache",
                       ".pytest_cache", ".ruff_cache", "site-packages"})
INDEXABLE = IMAGE_EXTENSIONS | frozenset(CODE_LANGUAGES) | TEXT_EXTENSIONS


@dataclass
class IndexReport:
    """What an indexing run did: ids added, files skipped (with why), files of unknown type ignored."""

    added: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    ignored: int = 0


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


def index_paths(retriever, paths: Iterable[str | Path], batch_size: int = 8, chunk_size: int = 256,
                show_progress: bool = True) -> IndexReport:
    """Add every readable image, code and text file under ``paths`` to ``retriever``'s index."""
    report = IndexReport()
    files = list(iter_files(paths))
    pending: list[Item] = []
    with tqdm(total=len(files), desc="index", disable=not show_progress, unit="file") as bar:
        for path in files:
            bar.update(1)
            if path.suffix.lower() not in INDEXABLE:
                report.ignored += 1
                continue
            try:
                pending.append(to_item(path))
            except InputError as exc:
                _skip(report, str(path), exc)
            if len(pending) >= chunk_size:
                _add_chunk(retriever, pending, batch_size, report)
                pending = []
        if pending:
            _add_chunk(retriever, pending, batch_size, report)
    return report


def _skip(report: IndexReport, source: str, exc: Exception) -> None:
    reason = str(exc).split(": ", 1)[-1]
    log.warning("skipping %s: %s", source, reason)
    report.skipped.append((source, reason))


def _add_chunk(retriever, items: list[Item], batch_size: int, report: IndexReport) -> None:
    while items:
        try:
            report.added += retriever.add(items, ids=[it.source for it in items], batch_size=batch_size,
                                          show_progress=False)
            return
        except InputError as exc:
            if exc.position is None:
                raise
            _skip(report, items[exc.position].source or f"input #{exc.position}", exc)
            items = items[: exc.position] + items[exc.position + 1 :]
