"""The index folder on disk: which path may be replaced, the swap that replaces it, locks, and clean-up.

A save builds a complete folder ``.<name>.tmp-<pid>-<hex>`` next to ``<name>``, then — holding an exclusive
``flock`` on the parent folder — renames ``<name>`` to ``.<name>.old``, the new folder to ``<name>``, and
deletes ``.<name>.old``. A load holds a shared ``flock`` on the parent while it verifies and reads, so it
sees one complete save, never parts of two. A crash between the renames leaves the previous save complete
at ``.<name>.old``; ``recover`` renames it back. Temp folders of processes that no longer run are deleted.
``flock`` is advisory and local: processes on one machine sharing a local file system (not NFS).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from unret.errors import IndexPathError, UnretError, disk_full

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; saves stay atomic, concurrent load + save is unguarded
    fcntl = None

MANIFEST = "manifest.json"


def real_path(path: str | os.PathLike) -> Path:
    """``path`` with symbolic links resolved, so saving through a link replaces the folder it points to."""
    return Path(os.path.realpath(path))


def backup_of(path: Path) -> Path:
    return path.parent / f".{path.name}.old"


def new_tmp(path: Path) -> Path:
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    return tmp


@contextlib.contextmanager
def locked(path: Path, exclusive: bool) -> Iterator[None]:
    """Hold an advisory lock on ``path``'s parent folder: shared for loads, exclusive for the swap."""
    if fcntl is None:
        yield
        return
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # no parent folder: nothing to load, and a save creates it first
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


def check_target(path: Path, marker: str = MANIFEST) -> None:
    """Refuse to replace anything but an unret folder (``marker`` present: ``manifest.json`` for a vector index,
    ``unret_config.json`` for a whole index folder) or an empty folder."""
    if path.is_symlink():
        raise IndexPathError(f"{path} is a symbolic link to {os.readlink(path)!r}, which does not exist; "
                             "refusing to save the index there")
    if not path.exists():
        return
    if not path.is_dir():
        raise IndexPathError(f"{path} is a file, not an unret index folder; refusing to replace it "
                             "(choose another path or move the file)")
    if not (path / marker).is_file() and any(path.iterdir()):
        raise IndexPathError(f"{path} holds files but no {marker}: it is not an unret index folder, so "
                             "saving there would delete them; choose another path or empty it")


def _remove(p: Path) -> None:
    if p.is_symlink() or p.is_file():
        p.unlink()
    elif p.exists():
        shutil.rmtree(p)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(path: Path) -> list[Path]:
    """Delete temp folders of saves to ``path`` whose process is gone (killed mid-save); returns them.

    Best effort (a read-only parent keeps them): a temp folder of a live process is another save at work.
    """
    removed = []
    with contextlib.suppress(OSError):
        for p in path.parent.glob(f".{path.name}.tmp-*"):
            pid = p.name.rsplit(".tmp-", 1)[1].split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                with contextlib.suppress(OSError):
                    _remove(p)
                    removed.append(p)
    return removed


def recover(path: Path, marker: str = MANIFEST) -> Path:
    """After a crash between a save's two renames, put the previous save back at ``path``.

    Call holding the exclusive lock. Returns where the complete index is: ``path``, or the backup when it
    cannot be renamed (a read-only folder).
    """
    backup = backup_of(path)
    if not (path / marker).is_file() and not path.exists() and (backup / marker).is_file():
        try:
            os.replace(backup, path)
            fsync_dir(path.parent)
        except OSError:
            return backup
    return path


def drop_backup(path: Path, marker: str = MANIFEST) -> None:
    """Delete ``.<name>.old`` left by a save killed after its swap; call holding the exclusive lock.

    Only while ``path`` holds a complete index (its manifest appears only by the rename of a complete
    folder), so the last complete copy is never the one deleted. Best effort (read-only folders keep it).
    """
    backup = backup_of(path)
    if (path / marker).is_file() and (backup.exists() or backup.is_symlink()):
        with contextlib.suppress(OSError):
            _remove(backup)


def swap_in(tmp: Path, path: Path, marker: str = MANIFEST) -> None:
    """Replace ``path`` by the complete folder ``tmp``; call holding the exclusive lock.

    The previous save stays complete at every step: at ``path``, or at ``.<name>.old`` between the renames
    (``recover`` undoes that), and it is deleted only once the new one is in place.
    """
    recover(path, marker)
    check_target(path, marker)
    backup = backup_of(path)
    if path.exists():
        _remove(backup)  # a stale backup (or a stray file by that name); ``path`` is the complete copy
        os.replace(path, backup)
    try:
        os.replace(tmp, path)
    except BaseException:
        if backup.exists() and not path.exists():
            os.replace(backup, path)
        raise
    fsync_dir(path.parent)
    with contextlib.suppress(OSError):
        _remove(backup)


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems refuse a folder fsync; the rename is done
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def replace(path: str | os.PathLike, write: Callable[[Path], None], marker: str = MANIFEST) -> None:
    """Replace the folder ``path`` by what ``write(tmp)`` builds in a temp folder beside it, all at once.

    The one save protocol of the vector index and of the whole index folder: only a folder holding
    ``marker`` (or an empty one) is replaced; ``write`` fills the temp folder, then under the exclusive lock
    the old folder goes aside and the new one comes in. Any failure deletes the temp folder and raises an
    OSError naming ``path`` (``save_error``): the disk is as it was.
    """
    path = real_path(path)
    # Under the shared lock: another process's swap (exclusive) renames ``path`` away and back, and a
    # check that ran between its renames would see a folder mid-swap and refuse a valid index.
    with locked(path, exclusive=False):
        check_target(path, marker)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(path)
        tmp = new_tmp(path)
    except OSError as e:
        raise save_error(e, path) from e
    try:
        write(tmp)
        with locked(path, exclusive=True):
            swap_in(tmp, path, marker)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError) and not isinstance(e, UnretError):
            raise save_error(e, path) from e
        raise


def save_error(e: OSError, path: Path) -> OSError:
    """The same kind of OSError, saying which save failed, that nothing changed, and if the disk is full."""
    reason = "no space left on device" if disk_full(e) else str(e.strerror or e)
    text = f"cannot save the index to {path}: {reason}; the index on disk is unchanged"
    try:
        return type(e)(e.errno, text)
    except TypeError:  # an OSError subclass with another constructor
        return OSError(e.errno, text)
