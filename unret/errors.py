"""One family of errors, so callers can catch ``UnretError`` and still tell the causes apart.

Every class also derives from the built-in it historically was (``ValueError``, ``RuntimeError``), so code
written against those keeps working. The lowest layer: it imports nothing from unret.
"""

from __future__ import annotations

import errno
import os


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the user's quota) is full: saves name that cause, the server answers 507."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


class UnretError(Exception):
    """Base of every error unret raises on purpose (bad input, bad data, a damaged or mismatched index)."""


class InputError(UnretError, ValueError):
    """An input unret cannot embed; the message names the input (its position and value).

    ``position`` is the input's index in the call (None when unknown), so callers that index many files
    can skip the bad one and go on.
    """

    def __init__(self, message: str, position: int | None = None):
        super().__init__(message)
        self.position = position


class DataFormatError(UnretError, ValueError):
    """A malformed line in a data set or training file; the message starts with ``file:line``."""

    def __init__(self, path: str | os.PathLike, line: int | None, message: str):
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path, self.line = str(path), line


class RecordError(UnretError, ValueError):
    """One malformed record (an item in a data file), before its file and line are known; readers re-raise
    it as `DataFormatError` with them."""


class ConfigError(UnretError, ValueError):
    """Settings that contradict each other (e.g. a data layout the chosen loss cannot train on)."""


class IndexCorruptError(UnretError, ValueError):
    """A saved index is missing a file, or a file is truncated, altered or fails its checksum."""


class ModelMismatchError(UnretError, ValueError):
    """Saved state (an index, a fusion head) is intact but belongs to another model, dimension or backbone."""


class IndexPathError(UnretError, FileExistsError):
    """``save`` was pointed at a path holding something other than an unret index (a file, a folder of
    other files); nothing there was touched."""


class IndexLockedError(UnretError, RuntimeError):
    """Another process is writing to this index folder (one writer per folder: a second one would lose the
    first one's changes when either saves); the message names the folder and the holder."""

    def __init__(self, message: str, holder: str = ""):
        super().__init__(message)
        self.holder = holder


# The names these had before they were merged; same class, so ``except`` clauses written for them still work.
ManifestMismatchError = ModelMismatchError
FusionMismatchError = ModelMismatchError


class ReadOnlyIndexError(UnretError, RuntimeError):
    """A write (add, remove, save over) to an index opened read-only (``view=True``)."""


class NoIndexError(UnretError, RuntimeError):
    """A search, save or lookup on a retriever (or lexical scorer) that has nothing indexed yet."""


__all__ = [
    "ConfigError", "DataFormatError", "FusionMismatchError", "IndexCorruptError", "IndexLockedError", "IndexPathError",
    "InputError",
    "ManifestMismatchError", "ModelMismatchError", "NoIndexError", "ReadOnlyIndexError", "RecordError", "UnretError",
]
