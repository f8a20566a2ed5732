"""LightningCLI behind ``unret fit -c configs/X.yaml`` and ``lightning fit -c configs/X.yaml``.

Lightning ≥ 2.5 installs no ``lightning`` command of its own (only ``fabric``); unret's ``lightning``
console script points here, so the documented ``lightning fit -c …`` works. Installing another package
that ships a ``lightning`` script overwrites one or the other (pip does so silently).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from lightning.pytorch.cli import LightningCLI

from unret.training.data import RetrievalDataModule
from unret.training.module import RetrieverModule


def program_name(argv: Sequence[str] | None = None) -> str:
    """The command the user typed, for usage lines: ``lightning`` or ``unret`` (``python -m``: ``unret``)."""
    name = Path(sys.argv[0]).name if argv is None and sys.argv and sys.argv[0] else "unret"
    return "unret" if name.endswith(".py") or name in ("-c", "-m", "") else name


def main(argv: Sequence[str] | None = None) -> None:
    """Run LightningCLI with unret's module and data module (``--help`` lists every option)."""
    LightningCLI(
        RetrieverModule,
        RetrievalDataModule,
        args=None if argv is None else list(argv),  # None: LightningCLI reads sys.argv itself
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"prog": program_name(argv), "default_env": False},
    )


if __name__ == "__main__":
    main()
