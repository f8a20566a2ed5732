"""The torch / torchvision pair check: a broken pair is one line naming both versions and the pip fix."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import subprocess
import sys
from pathlib import Path

import pytest

from unret import install
from unret.cli.errors import message
from unret.install import InstallError, cuda_build_without_gpu, pair_problem, vision_stack

ROOT = Path(__file__).resolve().parents[1]
BROKEN_TORCHVISION = '''
import importlib.abc, importlib.machinery, sys
class _Loader(importlib.abc.Loader):
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        raise RuntimeError("operator torchvision::nms does not exist")
class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "torchvision":
            return importlib.machinery.ModuleSpec(name, _Loader())
sys.meta_path.insert(0, _Finder())
'''


def test_matching_pairs_pass_and_mismatched_minors_name_the_pip_fix():
    for minor in range(4, 15):
        assert pair_problem(f"2.{minor}.1", f"0.{minor + 15}.1") is None
    assert pair_problem("2.14.1+cpu", "0.29.1+cpu") is None
    assert pair_problem("2.14.1", "0.29.1+cu130") is None  # PyPI's torch carries no label
    problem = pair_problem("2.13.0+cpu", "0.29.1")
    assert "torchvision 0.29.1 is built for torch 2.14" in problem and "torch 2.13.0+cpu is installed" in problem
    assert f'{sys.executable} -m pip install "torch==2.14.*" "torchvision==0.29.1"' in problem


def test_builds_for_different_devices_are_a_problem():
    """What README's old CPU line left on a machine where the CPU index was unreachable: a CPU torch from a
    local wheel and PyPI's CUDA torchvision of the matching version (importing it: torchvision::nms missing)."""
    problem = pair_problem("2.13.0+cpu", "0.28.0")
    assert "(cpu vs PyPI default)" in problem
    assert ('--force-reinstall "torchvision==0.28.0" --no-deps --index-url https://download.pytorch.org/whl/cpu'
            in problem)
    assert '--force-reinstall "torch>=2.4,<2.15" "torchvision>=0.19,<0.30"' in problem
    assert "(cpu vs cu130)" in pair_problem("2.14.1+cpu", "0.29.1+cu130")
    assert pair_problem("2.14.1+cu130", "0.29.1+cu130") is None


def test_the_fix_installs_the_range_pyproject_declares():
    text = (ROOT / "pyproject.toml").read_text()
    for requirement in install.SUPPORTED:
        assert f'"{requirement}"' in text


def test_missing_packages_are_named(monkeypatch):
    monkeypatch.setattr(install, "_version", lambda package: None if package == "torchvision" else "2.14.1")
    assert pair_problem().startswith("torchvision is not installed (torch 2.14.1 is)")


def test_a_torchvision_that_fails_to_load_becomes_one_install_error(monkeypatch):
    """The real failure of a mismatched build: importing torchvision raises inside its C extension."""
    monkeypatch.delitem(sys.modules, "torchvision", raising=False)
    namespace: dict = {}
    exec(BROKEN_TORCHVISION, namespace)
    finder = sys.meta_path[0]
    try:
        with pytest.raises(InstallError) as caught, vision_stack():
            importlib.import_module("torchvision")
    finally:
        sys.meta_path.remove(finder)
        sys.modules.pop("torchvision", None)
    text = str(caught.value)
    assert "operator torchvision::nms does not exist" in text
    assert f"{sys.executable} -m pip install --force-reinstall" in text and "\n" not in text
    importlib.import_module("torchvision")  # the real one is back


def test_demo_refuses_a_mismatched_pair_before_loading_anything(monkeypatch, capsys):
    from unret.cli import main

    versions = {"torch": "2.13.0+cpu", "torchvision": "0.29.1"}
    monkeypatch.setattr(install, "_version", versions.get)
    assert main(["demo", "--model", "tiny"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("unret: error: torchvision 0.29.1 is built for torch 2.14 but torch 2.13.0+cpu")
    assert '"torch==2.14.*" "torchvision==0.29.1"' in err and "\n" not in err


@pytest.mark.slow
def test_unret_with_a_broken_torchvision_says_why_in_one_line(tmp_path):
    """Without the check this exits with "Could not import module 'AutoProcessor'" and nothing else."""
    script = BROKEN_TORCHVISION + "from unret.cli import main\nraise SystemExit(main(['demo', '--model', 'tiny']))\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("note: ")]  # the CPU hint
    assert len(lines) == 1 and lines[0].startswith("unret: error: "), done.stderr
    assert "operator torchvision::nms does not exist" in lines[0] and "pip install" in lines[0]
    assert "AutoProcessor" not in lines[0]


def test_cuda_build_without_gpu():
    assert cuda_build_without_gpu("13.0", lambda: False)
    assert not cuda_build_without_gpu("13.0", lambda: True)
    assert not cuda_build_without_gpu("", lambda: False)  # a CPU build


def test_cli_message_shows_the_root_cause_of_an_opaque_error():
    try:
        try:
            raise RuntimeError("operator torchvision::nms does not exist")
        except RuntimeError as inner:
            raise ModuleNotFoundError("Could not import module 'AutoProcessor'.") from inner
    except ModuleNotFoundError as exc:
        text = message(exc)
    assert "caused by RuntimeError: operator torchvision::nms does not exist" in text
