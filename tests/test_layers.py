"""Imports only run downward: every import under unret/ checked against the layer order in the docs.

The order is written once, in docs/architecture.md (between the ``layers`` markers); this test reads it
from there, so the documented rule and the enforced rule cannot drift apart.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "unret"
DOC = ROOT / "docs" / "architecture.md"


def declared_layers() -> list[tuple[str, list[str]]]:
    """(layer name, top-level modules) from docs/architecture.md, lowest layer first."""
    text = DOC.read_text()
    block = re.search(r"<!-- layers:begin -->(.*?)<!-- layers:end -->", text, re.S)
    assert block, f"{DOC} has no layers block"
    layers = []
    for line in block.group(1).splitlines():
        match = re.match(r"^([a-z]+):\s+(.+)$", line.strip())
        if match:
            layers.append((match.group(1), [m.strip() for m in match.group(2).split(",")]))
    return layers


def top_level(module: str) -> str | None:
    """``unret.backbones.fused`` → ``backbones``; ``unret`` itself → None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "unret" and len(parts) > 1 else None


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in the file, at any depth (functions, TYPE_CHECKING)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "unret":  # ``from unret import testing`` imports the submodule
                found += [(node.lineno, f"unret.{alias.name}") for alias in node.names
                          if (PACKAGE / alias.name).is_dir() or (PACKAGE / f"{alias.name}.py").is_file()]
            else:
                found.append((node.lineno, base))
    return [(line, m) for line, m in found if m == "unret" or m.startswith("unret.")]


def test_the_layer_list_names_every_module_once():
    seen = [m for _, modules in declared_layers() for m in modules]
    assert len(seen) == len(set(seen)), f"a module is in two layers: {seen}"
    actual = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
              if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
    assert actual - set(seen) == set(), f"add these modules to a layer in {DOC.name}"
    assert set(seen) - actual == set(), f"{DOC.name} names modules that do not exist"


def test_imports_only_run_downward():
    rank = {m: i for i, (_, modules) in enumerate(declared_layers()) for m in modules}
    names = {i: layer for i, (layer, _) in enumerate(declared_layers())}
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = top_level(module_name(path))
        if source is None:  # unret/__init__.py: the public face re-exports from every layer, lazily
            continue
        for line, target in imported_modules(path):
            dest = top_level(target)
            if dest is not None and dest != source and rank[dest] > rank[source]:
                upward.append(f"{path.relative_to(ROOT)}:{line}: {source} ({names[rank[source]]}) imports "
                              f"{target} ({names[rank[dest]]})")
    assert not upward, "imports that run upward:\n" + "\n".join(upward)


@pytest.mark.parametrize(("source", "target", "expected"), [
    ("unret/backbones/fused.py", "from unret.backbones import load_backbone", "unret.backbones"),
    ("unret/training/losses/infonce.py", "from .base import BatchNeeds", "unret.training.losses.base"),
    ("unret/backbones/__init__.py", "from unret import testing", "unret.testing"),
    ("unret/training/losses/__init__.py", "from . import base", "unret.training.losses"),
])
def test_import_parsing_resolves_relative_and_package_imports(tmp_path, monkeypatch, source, target, expected):
    """The checker itself: relative imports and ``from unret import x`` resolve to the module imported."""
    fake = ROOT / source
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: target if self == fake else "")
    assert [m for _, m in imported_modules(fake)] == [expected]


def test_an_upward_import_is_caught(monkeypatch):
    """A planted upward import (backbones importing the index) makes the check fail."""
    original = Path.read_text
    planted = PACKAGE / "backbones" / "pooling.py"

    def read(self, *args, **kwargs):
        text = original(self, *args, **kwargs)
        return text + "\nfrom unret.index import VectorIndex\n" if self == planted else text

    monkeypatch.setattr(Path, "read_text", read)
    with pytest.raises(AssertionError, match=r"backbones/pooling.py:\d+: backbones \(models\) imports unret.index"):
        test_imports_only_run_downward()


def test_training_and_datasets_read_data_through_formats_not_evaluation():
    """BEIR/JSONL reading and writing live in unret.formats; training and datasets do not reach into evaluation."""
    offenders = [f"{path.relative_to(ROOT)}:{line}: {target}"
                 for folder in ("training", "datasets") for path in sorted((PACKAGE / folder).rglob("*.py"))
                 for line, target in imported_modules(path) if top_level(target) == "evaluation"]
    assert not offenders, offenders


def test_no_module_is_over_about_350_lines():
    """Small modules, one job each: a module past ~350 lines becomes a package."""
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 360}
    assert not long, f"split these into packages: {long}"
