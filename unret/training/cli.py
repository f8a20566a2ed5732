"""LightningCLI behind ``unret fit -c configs/X.yaml`` and ``lightning fit -c configs/X.yaml``.

Lightning ≥ 2.5 installs no ``lightning`` command of its own (only ``fabric``); unret's ``lightning``
console script points here, so the documented ``lightning fit -c …`` works. Installing another package
that ships a ``lightning`` script overwrites one or the other (pip does so silently).
"""

from __future__ import annotations

from collections.abc import Sequence

from lightning.pytorch.cli import LightningCLI

from unret.training.data import RetrievalDataModule
from unret.training.module import RetrieverModule


def main(argv: Sequence[str] | None = None, prog: str = "lightning") -> None:
    """Run LightningCLI with unret's module and data module (``--help`` lists every option); ``prog`` is the
    command name its help shows (``unret`` when called as ``unret fit``)."""
    LightningCLI(
        RetrieverModule,
        RetrievalDataModule,
        args=None if argv is None else list(argv),  # None: LightningCLI reads sys.argv itself
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"prog": prog, "default_env": False},
    )


if __name__ == "__main__":
    main()
