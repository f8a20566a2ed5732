"""Exit codes of the ``unret`` command and the one-line message for each error.

Every user mistake ends in one line on stderr (``unret: error: …`` naming the input) and its own exit code;
``--debug`` shows the traceback instead. The codes (also in docs/indexing.md):

====  =====================================================================================
0     success
1     unexpected failure (a bug, or the system: disk full, file too large, permission denied) — the
      message names the path; a failed save keeps what was saved before
2     bad command line: unknown option, ``-k 0``, an empty query, ``KEY=VALUE`` malformed, ``--save-every
      nan``, an empty ``remove`` target, ``--out`` a folder that is not an index, contradicting settings
3     a path given does not exist: index folder, query file, folder to index, BEIR folder
4     input that exists but is malformed: a BEIR folder or JSONL line, an unreadable query input
5     the index is damaged (a file missing, truncated or failing its checksum)
6     model mismatch: ``--model`` differs from the model the index was built with
7     unknown model: not a local folder, an ``unret-offline/…`` / ``unret-testing/…`` name or a cached hub model
8     the index is locked: another process (``unret index``, ``unret remove``, a server's write) is writing it;
      nothing was changed — run again when it is done
130   interrupted (Ctrl-C); ``unret index`` saves the files it finished first
141   the reader of the output went away (``unret info IDX | head``): no message, like a command killed by
      SIGPIPE; what the command was writing to the index is saved first
====  =====================================================================================
"""

from __future__ import annotations

from unret.errors import (
    ConfigError,
    DataFormatError,
    IndexCorruptError,
    IndexLockedError,
    IndexPathError,
    InputError,
    ModelMismatchError,
    RecordError,
)
from unret.install import InstallError

OK, FAILURE, USAGE, NOT_FOUND, BAD_DATA, CORRUPT_INDEX, MODEL_MISMATCH, UNKNOWN_MODEL, LOCKED = range(9)
INTERRUPTED = 130
BROKEN_PIPE = 141  # 128 + SIGPIPE, the status of a command the shell saw killed by a closed pipe


class CliError(Exception):
    """A mistake the command reports as one line and ``code``."""

    def __init__(self, message: str, code: int = USAGE):
        super().__init__(message)
        self.code = code


def exit_code(exc: BaseException) -> int:
    """The exit code for an error that reached the top of a command."""
    if isinstance(exc, CliError):
        return exc.code
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(exc, (IndexPathError, ConfigError)):
        return USAGE
    if isinstance(exc, IndexCorruptError):
        return CORRUPT_INDEX
    if isinstance(exc, IndexLockedError):
        return LOCKED
    if isinstance(exc, ModelMismatchError):
        return MODEL_MISMATCH
    if isinstance(exc, (DataFormatError, RecordError, InputError)):
        return BAD_DATA
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return NOT_FOUND
    return FAILURE


def _root_cause(exc: BaseException) -> BaseException:
    seen = {id(exc)}
    while (nxt := exc.__cause__ or exc.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        exc = nxt
    return exc


def message(exc: BaseException) -> str:
    """One line saying what went wrong (the type is named only for errors unret did not raise on purpose)."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename is not None and str(exc.filename) not in text:
        text = f"{text}: {exc.filename}"
    if exit_code(exc) == FAILURE and not isinstance(exc, (OSError, CliError, InstallError)):
        root = _root_cause(exc)
        if root is not exc:  # "Could not import module 'AutoProcessor'" says nothing; its cause does
            text = f"{text} (caused by {type(root).__name__}: {root})"
        text = f"{type(exc).__name__}: {text} (run with --debug for the traceback)"
    return " ".join(text.split())
