"""Pieces the subcommands share: argument types, ``--quiet``, and the checks made before a model loads."""

from __future__ import annotations

import argparse
import difflib
import errno
import json
import math
import os
import resource
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from unret.cli.errors import BAD_DATA, FAILURE, MODEL_MISMATCH, NOT_FOUND, UNKNOWN_MODEL, CliError
from unret.store.layout import CONFIG_NAME, read_config  # no torch: --help stays fast

MODEL_ARG_HELP = ("passed to from_pretrained when loading the model, e.g. pretrained=laion2b_s34b_b79k, "
                  "max_pixels=401408, attn_implementation=sdpa (repeatable)")


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1 (``-k 0`` is a usage error, not an empty result)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a number ≥ 0 (``inf`` means never; ``nan`` is refused: every comparison with it is false)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if math.isnan(value):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def key_value(text: str) -> tuple[str, object]:
    """argparse type for ``KEY=VALUE``; values that parse as JSON (numbers, booleans, quoted strings) keep
    their type, anything else stays a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expects KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def pairs(values: list[tuple[str, object]] | None) -> dict[str, object]:
    return dict(values or [])


def add_model_args(parser: argparse.ArgumentParser, dtype: bool = True) -> None:
    parser.add_argument("--device", default=None, help="e.g. cuda, cpu (default: cpu)")
    if dtype:
        parser.add_argument("--dtype", default=None, help="e.g. bfloat16")


def quiet() -> None:
    """Silence every progress bar, info log and advice warning, the model's weight-loading bars included."""
    from unret.backbones.recipes import RecipeWarning

    warnings.filterwarnings("ignore", category=RecipeWarning)  # advice for a person watching, not an error
    os.environ["TQDM_DISABLE"] = "1"
    os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    try:
        import transformers

        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass


def check_model(name: str) -> None:
    """Refuse a model name that cannot load, before loading its weights: an unknown ``unret-offline/…`` or
    ``unret-testing/…`` name, or (offline) a hub name that is neither a local folder nor in the HF cache."""
    from unret.offline_models import OFFLINE_MODELS
    from unret.offline_models import PREFIX as OFFLINE

    if Path(name).expanduser().is_dir() or name.startswith("open_clip:"):
        return
    if name.startswith((OFFLINE, "unret-testing/")):
        from unret.backbones import resolve_model

        try:
            resolve_model(name)
        except (ValueError, ModuleNotFoundError) as exc:
            raise CliError(f"unknown model {name!r}: {exc}", UNKNOWN_MODEL) from None
        return
    if _offline() and not _in_hf_cache(name):
        offline = [OFFLINE + k for k in OFFLINE_MODELS]
        by_base = {k.lower(): OFFLINE + k for k in OFFLINE_MODELS}  # sentence-transformers/X -> unret-offline/X
        base = name.rsplit("/", 1)[-1].lower()
        close = ([by_base[base]] if base in by_base else
                 difflib.get_close_matches(name, offline, n=1, cutoff=0.6)
                 or [by_base[m] for m in difflib.get_close_matches(base, list(by_base), n=1, cutoff=0.8)])
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise CliError(f"unknown model {name!r}: not a local folder, and not in the Hugging Face cache while "
                       f"offline{hint}", UNKNOWN_MODEL)


def _offline() -> bool:
    flags = (os.environ.get(v, "").lower() for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(flag in ("1", "true", "yes") for flag in flags)


def _in_hf_cache(name: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return True
    try:
        return isinstance(try_to_load_from_cache(name, "config.json"), str) or isinstance(
            try_to_load_from_cache(name, "open_clip_config.json"), str)
    except ValueError:  # not even a valid repo id
        return False


def load_model(name: str, **kwargs: Any):
    """``UnifiedRetriever.from_pretrained`` with load failures reported as an unknown model (exit 7)."""
    from unret.retriever import UnifiedRetriever

    check_model(name)
    try:
        return UnifiedRetriever.from_pretrained(name, **kwargs)
    except (OSError, ModuleNotFoundError) as exc:
        if isinstance(exc, FileNotFoundError) and Path(name).expanduser().exists():
            raise
        raise CliError(f"cannot load model {name!r}: {exc}", UNKNOWN_MODEL) from exc


def index_folder(path: str) -> Path:
    """An existing index folder, else exit 3 naming it (checked before any model loads)."""
    from unret.store.commit import recover

    folder = Path(path).expanduser()
    recover(folder)  # a save killed between its renames left the index aside: put it back
    if not folder.exists():
        raise CliError(f"no index at {path} (the folder does not exist; create one with `unret index`)", NOT_FOUND)
    if not (folder / CONFIG_NAME).is_file():
        raise CliError(f"{path} is not an unret index (no {CONFIG_NAME}; create one with `unret index`)", NOT_FOUND)
    return folder


def index_config(folder: Path) -> dict[str, Any]:
    """The index's config through the one parser (``unret.store.layout.read_config``), damage as exit 5."""
    from unret.cli.errors import CORRUPT_INDEX
    from unret.errors import IndexCorruptError

    try:
        return read_config(folder / CONFIG_NAME)
    except IndexCorruptError as exc:
        raise CliError(f"{exc}; the index cannot be read", CORRUPT_INDEX) from None


def same_model(given: str, stored: str | None) -> bool:
    """Whether ``--model given`` names the model an index stores as ``stored``."""
    if stored is None or given == stored:
        return True
    a, b = Path(given).expanduser(), Path(stored).expanduser()
    return a.exists() and b.exists() and a.resolve() == b.resolve()


def check_same_model(folder: Path, given: str | None) -> None:
    if not given:
        return
    stored = (index_config(folder).get("model") or {}).get("name_or_path")
    if not same_model(given, stored):
        raise CliError(f"{folder} was built with model {stored!r}, not {given!r}: drop --model to use the index's "
                       "model, or choose another --out for a new index", MODEL_MISMATCH)


def beir_folder(path: str, split: str) -> None:
    """A BEIR folder with corpus, queries and the split's qrels, else exit 3 / 4 naming what is missing."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise CliError(f"no BEIR data set folder at {path}", NOT_FOUND)
    missing = [n for n in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv") if not (root / n).is_file()]
    if missing:
        raise CliError(f"{path} is not a BEIR folder for split {split!r}: missing {', '.join(missing)}", BAD_DATA)


def save_index(save: Callable[[], None], path: Path) -> None:
    """Run ``save``; when the disk refuses it (full, over the file size limit), say so naming ``path``.

    The errno does not always survive the layers below (usearch reports only "Failed to serialize into
    stream", numpy a short write), so a failure without one is explained by what the disk says now.
    Saves are atomic: the previous save stays, and the message says so."""
    from unret.errors import UnretError

    try:
        save()
    except (OSError, RuntimeError) as exc:
        if isinstance(exc, UnretError):
            raise
        raise CliError(f"cannot save the index to {path}: {_save_failure(exc, path)} (what was saved before is kept)",
                       FAILURE) from exc


def _save_failure(exc: BaseException, path: Path) -> str:
    code = getattr(exc, "errno", None)
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if code in (errno.ENOSPC, errno.EDQUOT) or (code is None and _free_bytes(path) < 2**20):
        return "no space left on device"
    if code == errno.EFBIG or (code is None and limit != resource.RLIM_INFINITY):
        size = "" if limit == resource.RLIM_INFINITY else f" (the file size limit, ulimit -f, is {limit} bytes)"
        return f"file too large{size}"
    text = (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)) or type(exc).__name__
    return text.split(": ", 1)[-1] if text.startswith("cannot save the index to ") else text


def _free_bytes(path: Path) -> int:
    for folder in (path, *path.parents):
        if folder.exists():
            return shutil.disk_usage(folder).free
    return 2**63
