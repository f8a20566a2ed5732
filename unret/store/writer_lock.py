"""One writer per index folder: an exclusive, non-blocking ``flock`` on a lock file beside the folder.

Two writers of one folder lose each other's changes even though every save is atomic: each saves its own
in-memory state over the other's. So a writing process (``unret index``, ``unret remove``, the server while
it applies a write) holds ``<parent>/.<name>.writer.lock``; a second one gets `IndexLockedError` naming the
folder and the holder (pid and command, written into the lock file) instead of waiting or overwriting.
The file sits beside the folder because the folder itself is replaced by every save. The lock is released
when the process exits, however it exits (kill -9 included): a stale lock file locks nothing.
``flock`` is advisory and local (one machine, a local file system); on Windows there is no lock.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from unret.errors import IndexLockedError
from unret.index.folder import real_path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

_held: dict[tuple[Path, int], int] = {}  # (folder, thread) -> depth: re-entrant within one thread only
_held_guard = threading.Lock()
RUN_WAIT_S = 5.0  # how long ``unret index`` / ``remove`` wait for a holder: a server's write takes far less,
# another run far more (that one is refused after this wait, with the holder named)


def lock_file(folder: str | os.PathLike) -> Path:
    folder = real_path(folder)
    return folder.parent / f".{folder.name}.writer.lock"


def holder(folder: str | os.PathLike) -> str:
    """Who holds (or last held) the writer lock: ``pid N (command)``, or "" if unknown."""
    with contextlib.suppress(OSError):
        return lock_file(folder).read_text(encoding="utf-8").strip()
    return ""


class WriterLock:
    """The writer lock of ``folder``; ``acquire`` raises `IndexLockedError` if another writer holds it.

    ``wait`` seconds (default 0: refuse at once) are spent polling before refusing, so a run that starts
    while a server applies one write goes ahead once that write is saved. Re-entrant within a thread (a
    save inside ``unret index``'s hold does not lock again); another thread of the same process is another
    writer (its own ``flock``, refused). Released by ``release`` or when the process ends.
    """

    def __init__(self, folder: str | os.PathLike, wait: float = 0.0):
        self.folder, self.wait = real_path(folder), wait
        self._fd: int | None = None
        self._nested = False

    def acquire(self) -> WriterLock:
        key = (self.folder, threading.get_ident())
        with _held_guard:
            if key in _held:
                _held[key] += 1
                self._nested = True
                return self
        fd = self._lock() if fcntl is not None else None
        with _held_guard:
            self._fd, _held[key] = fd, 1
        return self

    def _lock(self) -> int:
        file = lock_file(self.folder)
        file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(0.02)
        except BlockingIOError:
            os.close(fd)
            who = holder(self.folder) or "another process"
            raise IndexLockedError(f"the index {self.folder} is being written by {who}; one writer per index "
                                   "folder: wait for it to finish (or stop it), then try again", who) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} ({' '.join(sys.argv)[:200]})\n".encode())
        return fd

    def release(self) -> None:
        key = (self.folder, threading.get_ident())
        with _held_guard:
            if self._nested:
                _held[key] -= 1
                self._nested = False
                return
            _held.pop(key, None)
            if self._fd is not None:
                os.close(self._fd)  # releases the flock; the file stays (deleting it would race a new holder)
                self._fd = None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def held_here(folder: str | os.PathLike) -> bool:
    """Whether this thread holds ``folder``'s writer lock."""
    return (real_path(folder), threading.get_ident()) in _held


@contextlib.contextmanager
def writing(folder: str | os.PathLike, wait: float = 0.0) -> Iterator[WriterLock]:
    """Hold ``folder``'s writer lock for the block (re-entrant; `IndexLockedError` if another writer still
    holds it after ``wait`` seconds)."""
    with WriterLock(folder, wait) as lock:
        yield lock
