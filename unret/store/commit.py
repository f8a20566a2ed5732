"""One all-or-nothing commit of a whole index folder, and the reads that see exactly one commit.

``UnifiedRetriever.save`` used to write the vector index, the lexical texts and the config one after the
other: a crash or a full disk between them left a document's vector and its BM25 text at different
versions for good. Now the new state is written complete into ``.<name>.tmp-<pid>-<hex>`` beside the
folder (vectors, catalog, lexical texts, then the config with a fresh commit id; entries the save does not
write, such as ``model/``, are hard-linked from the current folder, not copied), and swapped in with the
same protocol the vector index uses (``unret.index.folder``: rename aside, rename in, recover on load,
stale temp folders deleted). A kill -9 at any moment leaves the old or the new complete folder; a failed
save raises and leaves the disk as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from unret.index import folder
from unret.store.layout import CONFIG_NAME


def commit(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Replace the folder ``path`` by what ``write(tmp)`` builds, all at once.

    ``write`` must write the config (``unret_config.json``) last: a folder is an index when it has one.
    Anything at ``path`` that ``write`` did not produce is carried over by hard links.
    """
    path = folder.real_path(path)

    def build(tmp: Path) -> None:
        write(tmp)
        _carry_over(path, tmp)
        folder.fsync_dir(tmp)

    folder.replace(path, build, CONFIG_NAME)


def _carry_over(path: Path, tmp: Path) -> None:
    """Hard-link (or, across devices, copy) what the current folder has and the new one lacks."""
    if not path.is_dir():
        return
    for entry in path.iterdir():
        target = tmp / entry.name
        if target.exists() or target.is_symlink() or entry.name.startswith("."):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, target, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(entry, target)


def _link_or_copy(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    if os.path.islink(src):
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def recover(path: str | os.PathLike) -> Path:
    """Put back the previous commit if a crash left it aside (between a save's renames), and delete what
    killed saves left; returns where the complete folder is (``path``, or the backup if it cannot be
    renamed back). Call before deciding whether ``path`` holds an index."""
    path = folder.real_path(path)
    folder.clean_stale(path)
    source, backup = path, folder.backup_of(path)
    if backup.exists() or backup.is_symlink():
        with folder.locked(path, exclusive=True):
            source = folder.recover(path, CONFIG_NAME)
            folder.drop_backup(path, CONFIG_NAME)
    return source


@contextlib.contextmanager
def reading(path: str | os.PathLike) -> Iterator[Path]:
    """Hold a shared lock while reading the folder's parts (after ``recover``), so they come from one commit;
    yields where the complete folder is."""
    source = recover(path)
    with folder.locked(source, exclusive=False):
        yield source

