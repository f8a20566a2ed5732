"""A readers–writer lock: many searches at once, one write at a time, and writers are not starved.

The vector index (usearch) and the lexical index may be searched by many threads concurrently, but an add
or remove must not run while any search is reading them. Writer preference: once a writer waits, new
readers queue behind it, so a steady stream of searches cannot postpone a write forever.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class ReadWriteLock:
    """``with lock.read(): ...`` for searches, ``with lock.write(): ...`` for changes."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writing = False
        self._waiting_writers = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writing or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting_writers += 1
            try:
                while self._writing or self._readers:
                    self._cond.wait()
            finally:
                self._waiting_writers -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()

    @property
    def state(self) -> tuple[int, bool]:
        """(active readers, whether a writer holds the lock) — for tests and ``/health``."""
        with self._cond:
            return self._readers, self._writing
