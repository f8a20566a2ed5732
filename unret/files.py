"""Index folders of images, code and text files: chunked, incremental, and never aborted by one bad file.

A run (``index_paths``) walks the given paths and, for every file of a known type:

* skips it without reading it when its size and modification time match what the index holds, and
  without embedding it when its content hash matches (``encode`` is never called for unchanged files);
* re-embeds a changed file, replacing all of its chunks;
* with ``sync=True``, removes the chunks of indexed files under the given folders that no longer exist
  (only those: a file indexed on its own that a walk of its folder skips, ``.notes/x.md``, stays);
  without it, counts them (``missing_files``);
* indexes a file once per run, however many given paths reach it (a symlink, ``proj proj/docs``);
* embeds again a file one of whose chunks was removed (``unret remove IDX 'f.py#L10-20'``);
* skips image files the model cannot read before reading them (a text-only model, a mixed folder);
* skips, counts and reports any file that fails (unreadable, binary, a corrupt or decompression-bomb
  image, an encoding error), and indexes the rest.

Work is committed to the index in groups of files; ``checkpoint`` (e.g. a save) runs after a group when
``save_every`` seconds have passed, and Ctrl-C stops after the group being committed, returning the
report with ``interrupted`` set: what was finished stays in the index. Ids are canonical (``unret.corpus``).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from unret.chunking import ChunkSettings, token_counter
from unret.corpus import (
    INDEXABLE,
    EmptyFile,
    FileSkipped,
    SourceFile,
    canonical_id,
    file_items,
    id_exists,
    is_under,
    iter_files,
    sha256_bytes,
)
from unret.errors import InputError, ReadOnlyIndexError
from unret.items import Item

__all__ = ["IndexReport", "chunk_settings", "index_paths", "indexed_sources", "iter_files", "remove_sources"]

log = logging.getLogger(__name__)
GROUP_ITEMS = 128  # items embedded and committed together
PROMPT_RESERVE = 32  # tokens left to the prompt around a chunk
DEFAULT_CHUNK_TOKENS = 512  # retrieval favours focused chunks even when the model reads more


@dataclass
class IndexReport:
    """What a run did. ``added``: ids embedded; ``skipped``: (file, why) for files that failed."""

    added: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    ignored: int = 0  # files of unknown type
    unsupported: int = 0  # files of a modality the model cannot read (images, videos for a text-only model)
    new_files: int = 0
    changed_files: int = 0
    unchanged_files: int = 0
    deleted_files: int = 0
    missing_files: int = 0  # indexed files under the paths that no longer exist, left in place (no sync)
    empty_files: int = 0  # nothing to embed (no bytes or only whitespace): neither indexed nor a failure
    removed: int = 0  # ids removed (deleted files, and chunks a changed file no longer has)
    truncated: list[str] = field(default_factory=list)  # ids whose text exceeds the model's length
    interrupted: bool = False


def chunk_settings(retriever, mode: str = "auto", max_tokens: int | None = None, overlap: int = 0) -> ChunkSettings:
    """Chunking for ``retriever``'s model: its tokenizer, and a budget of its max length less the prompt."""
    backbone = retriever.backbone
    model_max = getattr(backbone, "max_length", None) or DEFAULT_CHUNK_TOKENS
    budget = max(8, model_max - min(PROMPT_RESERVE, model_max // 8))
    return ChunkSettings(mode, max_tokens or min(budget, DEFAULT_CHUNK_TOKENS), overlap, token_counter(backbone))


def indexed_sources(store) -> dict[str, dict[str, Any]]:
    """Per indexed file (``source``): its ids and the size, mtime and hash recorded when it was embedded
    (``DocumentStore.sources``; a bare vector store is wrapped in one)."""
    from unret.store import DocumentStore

    if store is None:
        return {}
    return (store if isinstance(store, DocumentStore) else DocumentStore(store)).sources()


def remove_sources(index, targets: Iterable[str], dry_run: bool = False) -> tuple[int, list[str]]:
    """Remove ids, files (every chunk) or whole folders given as paths or ids; returns (removed, not found).
    ``dry_run`` only counts."""
    sources = indexed_sources(index)
    doomed: set[str] = set()
    missing = []
    targets = list(targets)
    blank = [t for t in targets if not str(t).strip()]
    if blank:  # "" would resolve to the working folder and remove everything indexed under it
        raise InputError(f"empty remove target {blank[0]!r}: give an id, or a file or folder path")
    for target in targets:
        if target in index:
            doomed.add(target)
            continue
        root = canonical_id(target)
        ids = [i for s, e in sources.items() if is_under(s, root) for i in e["ids"]]
        if ids:
            doomed.update(ids)
        else:
            missing.append(target)
    if doomed and not dry_run:
        index.remove(sorted(doomed))
    return len(doomed), missing


def index_paths(retriever, paths: Iterable[str | Path], batch_size: int = 8, show_progress: bool = True,
                settings: ChunkSettings | None = None, sync: bool = False,
                checkpoint: Callable[[], None] | None = None, save_every: float = 60.0,
                group_items: int = GROUP_ITEMS) -> IndexReport:
    """Add (or refresh) every readable image, code and text file under ``paths`` in ``retriever``'s index."""
    paths = list(paths)
    settings = settings or chunk_settings(retriever)
    report = IndexReport()
    store = retriever.store
    if store is not None and store.read_only:
        raise ReadOnlyIndexError("this index was loaded with view=True (read-only); load it with view=False to add")
    known = indexed_sources(store)
    seen: set[str] = set()
    todo: list[SourceFile] = []
    for path in iter_files(paths):
        if path.suffix.lower() not in INDEXABLE:
            report.ignored += 1
            continue
        try:
            file = SourceFile.of(path)
        except OSError as exc:
            _skip(report, canonical_id(path), f"cannot read: {exc.strerror or exc}")
            continue
        if file.id in seen:  # reached twice (a symlink, overlapping roots): one id, indexed once
            continue
        seen.add(file.id)
        if file.modality not in retriever.modalities:  # decided before reading or encoding anything
            report.unsupported += 1
            continue
        prev = known.get(file.id)
        if prev is not None and file.same_stat(prev) and _same_chunking(prev, file, settings) and _whole(prev):
            report.unchanged_files += 1
        else:
            todo.append(file)
    stale: list[str] = []
    roots = [canonical_id(p) for p in paths]
    gone = [s for s in known if s not in seen and any(is_under(s, r) for r in roots) and not id_exists(s)]
    if sync:
        report.deleted_files = len(gone)
        stale = [i for s in gone for i in known[s]["ids"]]
    else:
        report.missing_files = len(gone)
    with _sigint_deferred() as interrupted:
        try:
            if stale:
                with interrupted.critical():
                    retriever.remove(stale)
                    report.removed += len(stale)
            _embed_all(retriever, todo, known, settings, batch_size, report, show_progress, group_items,
                       checkpoint, save_every, interrupted)
        except KeyboardInterrupt:
            report.interrupted = True
    return report


def _embed_all(retriever, todo: list[SourceFile], known: dict, settings: ChunkSettings, batch_size: int,
               report: IndexReport, show_progress: bool, group_items: int, checkpoint, save_every: float,
               interrupted: _Interrupt) -> None:
    last_save = time.monotonic()
    with tqdm(total=None, desc="embed", unit="item", disable=not show_progress) as bar:
        for group in _groups(todo, known, settings, report, group_items):
            bar.total = (bar.total or 0) + sum(len(entries) for _, entries in group)
            bar.refresh()
            _embed_group(retriever, group, known, batch_size, report, bar, interrupted)
            if checkpoint is not None and time.monotonic() - last_save >= save_every:
                with interrupted.critical():
                    checkpoint()
                last_save = time.monotonic()


def _groups(todo: list[SourceFile], known: dict, settings: ChunkSettings, report: IndexReport,
            group_items: int) -> Iterator[list[tuple[SourceFile, list]]]:
    group: list[tuple[SourceFile, list]] = []
    size = 0
    for file in todo:
        prev = known.get(file.id)
        try:
            data = file.path.read_bytes()
            if (prev is not None and prev.get("sha256") is not None and prev["sha256"] == sha256_bytes(data)
                    and _same_chunking(prev, file, settings) and _whole(prev)):
                report.unchanged_files += 1  # touched but identical: nothing to embed
                continue
            entries = file_items(file, data, settings)
        except EmptyFile:
            report.empty_files += 1
            if prev is None:
                continue
            entries = []  # emptied since it was indexed: its old chunks go
        except Exception as exc:  # one bad file never aborts the run
            _skip(report, file.id, _reason(exc))
            continue
        group.append((file, entries))
        size += len(entries)
        if size >= group_items:
            yield group
            group, size = [], 0
    if group:
        yield group


def _embed_group(retriever, group: list[tuple[SourceFile, list]], known: dict, batch_size: int,
                 report: IndexReport, bar, interrupted: _Interrupt) -> None:
    vectors, group = _encode(retriever, group, batch_size, report)
    if not group:
        return
    ids = [item_id for _, entries in group for item_id, _, _ in entries]
    items: list[Item] = [item for _, entries in group for _, item, _ in entries]
    metas = [meta for _, entries in group for _, _, meta in entries]
    new_ids = set(ids)
    old = [i for file, _ in group for i in known.get(file.id, {}).get("ids", []) if i not in new_ids]
    with interrupted.critical():  # a commit is never cut in half by Ctrl-C
        if old:
            retriever.remove(old)
        if ids:
            retriever.add_encoded(ids, vectors, items, metas)
    report.removed += len(old)
    report.added += ids
    report.truncated += [i for i, m in zip(ids, metas, strict=True) if m.get("truncated")]
    for file, _ in group:
        if file.id in known:
            report.changed_files += 1
        else:
            report.new_files += 1
    bar.update(len(ids))


def _encode(retriever, group: list[tuple[SourceFile, list]], batch_size: int, report: IndexReport):
    """Vectors for every chunk of the group; a file whose chunk fails is dropped and the rest retried."""
    while group:
        items = [item for _, entries in group for _, item, _ in entries]
        if not items:  # only emptied files: nothing to embed, their old chunks are removed
            return None, group
        owner = [g for g, (_, entries) in enumerate(group) for _ in entries]
        try:
            return retriever.encode_documents(items, batch_size=batch_size, show_progress=False,
                                              convert_to="numpy"), group
        except InputError as exc:
            if exc.position is None:
                raise
            bad = owner[exc.position]
            _skip(report, group[bad][0].id, _reason(exc))
            group = group[:bad] + group[bad + 1 :]
        except (RuntimeError, ValueError, OSError) as exc:
            if len(group) == 1:
                _skip(report, group[0][0].id, _reason(exc))
                return None, []
            # find the file(s) at fault one by one rather than lose the group
            kept, parts = [], []
            for one in group:
                vectors, ok = _encode(retriever, [one], batch_size, report)
                if ok:
                    kept.append(one)
                    if vectors is not None:  # None: an emptied file, nothing to embed
                        parts.append(vectors)
            if not kept:
                return None, []
            return (np.concatenate(parts) if parts else None), kept
    return None, []


def _same_chunking(prev: dict[str, Any], file: SourceFile, settings: ChunkSettings) -> bool:
    """Images are never chunked; a text file indexed with other chunk settings is embedded again."""
    return file.is_image or file.is_video or prev.get("chunking") in (None, settings.key)


def _whole(prev: dict[str, Any]) -> bool:
    """Whether every chunk of an indexed file is still in the index (one may have been removed by id)."""
    return prev.get("chunks") in (None, len(prev["ids"]))


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, InputError):
        text = text.split(": ", 1)[-1]
    return text if isinstance(exc, (FileSkipped, InputError)) else f"{type(exc).__name__}: {text}"


def _skip(report: IndexReport, source: str, reason: str) -> None:
    log.warning("skipping %s: %s", source, reason)
    report.skipped.append((source, reason))


class _Interrupt:
    """Ctrl-C while inside ``critical()`` is held back until the block ends (then raised)."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending = False

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if self.depth == 0 and self.pending:
            self.pending = False
            raise KeyboardInterrupt

    def handle(self, signum, frame) -> None:
        if self.depth:
            self.pending = True
        else:
            raise KeyboardInterrupt


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[_Interrupt]:
    state = _Interrupt()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return
    previous = signal.signal(signal.SIGINT, state.handle)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)
