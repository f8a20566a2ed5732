"""The ``unret`` console: ``unret demo`` (and more subcommands as they land)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _demo(args: argparse.Namespace) -> int:
    from unret.demo import run

    run(model=args.model, device=args.device)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unret", description="Unified multimodal dense retrieval.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="embed a small mixed text/code/image corpus and show similarities")
    demo.add_argument("--model", default=None,
                      help="hub name or local folder (default: Qwen/Qwen2.5-VL-3B-Instruct if cached, "
                           "else the tiny offline checkpoint); 'tiny' forces the tiny checkpoint")
    demo.add_argument("--device", default=None, help="e.g. cuda, cpu (default: cpu)")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
