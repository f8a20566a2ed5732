"""The ``unret`` console: ``index``, ``search``, ``info``, ``remove``, ``demo``, ``mine``, ``evaluate``,
``datasets``, ``serve`` and Lightning's ``fit`` (``unret fit -c …``).

Each subcommand module registers its parsers in ``COMMANDS`` (a function taking argparse's subparsers and
setting ``func`` on each parser): adding a command is one line there. Errors end as one line on stderr
with a distinct exit code (``unret.cli.errors``); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from unret.cli import index_cmds, search_cmd, tools
from unret.cli.errors import BROKEN_PIPE, exit_code, message
from unret.serve.cli import add_parser as add_serve

__all__ = ["COMMANDS", "build_parser", "main"]

# The registration point: one entry per group of subcommands, in the order `unret --help` lists them.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    index_cmds.register,
    search_cmd.register,
    tools.register_demo,
    tools.register,
    add_serve,
    tools.register_lightning,
]


def build_parser() -> argparse.ArgumentParser:
    from unret import __version__

    parser = argparse.ArgumentParser(prog="unret", description="Unified multimodal dense retrieval.",
                                     epilog="Exit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 bad data, "
                                            "5 corrupt index, 6 model mismatch, 7 unknown model, 130 interrupted, "
                                            "141 output closed.")
    parser.add_argument("--version", action="version", version=f"unret {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(sub)
    for name, command in sub.choices.items():
        if name not in tools.LIGHTNING_COMMANDS:
            command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                 help="show tracebacks instead of one-line errors")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (argparse's own usage errors exit 2 via SystemExit)."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] in tools.LIGHTNING_COMMANDS:
        from unret.training.cli import main as lightning_main

        lightning_main(words)  # given argv, its usage lines say `unret`
        return 0
    args = build_parser().parse_args(words)
    debug = args.debug or os.environ.get("UNRET_DEBUG", "") not in ("", "0")
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not as a traceback at interpreter exit
        return code
    except BrokenPipeError:  # `unret info IDX | head`: the reader is gone, which is not an error to report
        _silence_stdout()
        return BROKEN_PIPE
    except (Exception, KeyboardInterrupt) as exc:
        if debug:
            raise
        print(f"unret: error: {message(exc)}" if not isinstance(exc, KeyboardInterrupt) else "unret: interrupted",
              file=sys.stderr)
        return exit_code(exc)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so Python's own flush at exit finds no broken pipe to complain about."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout replaced by something without a file descriptor (tests)
        pass
    finally:
        os.close(devnull)
