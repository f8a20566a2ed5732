"""Is the installed torch / torchvision pair one that works? One line saying what is wrong and the fix.

A torchvision built for another torch (``torchvision 0.29`` beside ``torch 2.13``, or a CUDA torchvision
beside a CPU torch) fails deep inside transformers' lazy imports, and the user sees only
``Could not import module 'AutoProcessor'``. unret imports the vision stack through :func:`vision_stack`,
which turns that failure into an `InstallError` naming both versions and the exact ``pip`` command that
installs a matching pair. torchvision ``0.N`` pairs with torch ``2.(N - 15)`` (0.19 ↔ 2.4 … 0.29 ↔ 2.14).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from importlib import metadata

from unret.errors import UnretError

MINOR_OFFSET = 15  # torchvision 0.(m + 15) is built for torch 2.m
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
SUPPORTED = ("torch>=2.4,<2.15", "torchvision>=0.19,<0.30")  # = pyproject.toml's dependencies (tested)


class InstallError(UnretError, RuntimeError):
    """The installed packages cannot work together; the message holds the command that fixes them."""


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _public(version: str) -> str:
    return version.split("+", 1)[0]


def _label(version: str) -> str:
    return version.split("+", 1)[1] if "+" in version else ""


def _minor(version: str) -> tuple[int, int] | None:
    parts = _public(version).split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None


def _pip(*requirements: str, force: bool = False) -> str:
    flags = " --force-reinstall" if force else ""
    return f"{sys.executable} -m pip install{flags} " + " ".join(f'"{r}"' for r in requirements)


def _index(label: str) -> str:
    return f"https://download.pytorch.org/whl/{label}"


def pair_problem(torch_version: str | None = None, torchvision_version: str | None = None) -> str | None:
    """What is wrong with the installed torch / torchvision pair (from package metadata), or None."""
    torch_version = torch_version or _version("torch")
    torchvision_version = torchvision_version or _version("torchvision")
    if torch_version is None:
        return f"torch is not installed; fix: {_pip('torch', 'torchvision')}"
    if torchvision_version is None:
        return f"torchvision is not installed (torch {torch_version} is); fix: {_pip('torchvision')}"
    torch_minor, vision_minor = _minor(torch_version), _minor(torchvision_version)
    if torch_minor is None or vision_minor is None or torch_minor[0] != 2 or vision_minor[0] != 0:
        return None  # a version scheme this rule does not know: let the import decide
    expected_torch = vision_minor[1] - MINOR_OFFSET
    wanted = f"torch=={torch_minor[0]}.{expected_torch}.*"
    if torch_minor[1] != expected_torch:
        return (f"torchvision {torchvision_version} is built for torch 2.{expected_torch} but torch "
                f"{torch_version} is installed; fix: {_pip(wanted, f'torchvision=={_public(torchvision_version)}')}")
    labels = _label(torch_version), _label(torchvision_version)
    if labels[0] and labels[0] != labels[1]:  # PyPI's Linux torchvision (no label) is a CUDA build
        public = _public(torch_version), _public(torchvision_version)
        same_build = _pip(f"torchvision=={public[1]}", force=True) + f" --no-deps --index-url {_index(labels[0])}"
        return (f"torch {torch_version} and torchvision {torchvision_version} are builds for different devices "
                f"({labels[0]} vs {labels[1] or 'PyPI default'}); fix: {same_build} (where that index is "
                f"unreachable, PyPI's pair: {_pip(*SUPPORTED, force=True)})")
    return None


def diagnose(exc: BaseException) -> str:
    """One line for a failed import of the vision stack: the mismatched pair if that is it, else the root cause."""
    problem = pair_problem()
    if problem is not None:
        return problem
    root, seen = exc, {id(exc)}
    while (cause := root.__cause__ or root.__context__) is not None and id(cause) not in seen:
        seen.add(id(cause))
        root = cause
    torch_version, torchvision_version = _version("torch") or "?", _version("torchvision") or "?"
    fix = _pip(*SUPPORTED, force=True)
    return (f"torchvision {torchvision_version} cannot be loaded with torch {torch_version} "
            f"({type(root).__name__}: {root}); fix: {fix}")


@contextlib.contextmanager
def vision_stack() -> Iterator[None]:
    """Import transformers' processors / torchvision inside this block: a broken pair raises `InstallError`."""
    try:
        yield
    except (ImportError, RuntimeError, OSError, AttributeError) as exc:
        if isinstance(exc, UnretError):
            raise
        raise InstallError(diagnose(exc)) from exc


def cuda_build_without_gpu(cuda_version: str | None = None,
                           gpu_available: Callable[[], bool] | None = None) -> bool:
    """Whether this torch is a CUDA build on a machine with no usable GPU (gigabytes for nothing)."""
    import torch

    cuda_version = torch.version.cuda if cuda_version is None else cuda_version
    if not cuda_version:
        return False
    return not (gpu_available or torch.cuda.is_available)()


def cpu_hint() -> str:
    """The hint `unret demo` prints on a CUDA build without a GPU."""
    import torch

    pair = [f"torch=={_public(torch.__version__)}"]
    torchvision_version = _version("torchvision")
    if torchvision_version is not None:
        pair.append(f"torchvision=={_public(torchvision_version)}")
    return (f"note: torch {torch.__version__} is a CUDA build and no GPU is visible; the CPU build of the same "
            f"pair is a few hundred MB instead of several GB: {_pip(*pair, force=True)} --index-url {CPU_INDEX}")
