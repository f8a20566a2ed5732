"""The training CLI (unret.training.cli): usage names the command typed; configs parse, old ones too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from unret.training.cli import main, program_name

ROOT = Path(__file__).resolve().parents[2]


def _script(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else None


@pytest.mark.skipif(_script("lightning") is None, reason="console scripts not installed (pip install -e .)")
def test_lightning_help_says_lightning():
    out = subprocess.run([_script("lightning"), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("usage: lightning"), out.stdout[:200]


def test_unret_fit_help_works_and_says_unret():
    out = subprocess.run([sys.executable, "-m", "unret.cli", "fit", "--help"], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0 and "usage: unret" in out.stdout and "--model.loss" in out.stdout


def test_program_name():
    assert program_name(["fit"]) == "unret"


def _printed(args, capsys) -> dict:
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--print_config"])
    assert exit_info.value.code == 0
    return yaml.safe_load(capsys.readouterr().out)


def test_config_values_and_overrides_reach_the_module_and_data(capsys):
    config = _printed(["fit", "-c", str(ROOT / "configs/tiny/distill.yaml"), "--data.list_size", "7"], capsys)
    assert config["model"]["loss"] == "distill" and config["model"]["model"] == "unret-testing/tiny-qwen2.5-vl"
    assert config["data"]["list_size"] == 7 and config["data"]["mode"] is None  # the loss decides the layout


def test_an_older_config_with_data_mode_still_parses(tmp_path, capsys):
    old = yaml.safe_load((ROOT / "configs/tiny/contrastive.yaml").read_text())
    old["data"]["mode"] = "contrastive"
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(old))
    assert _printed(["fit", "-c", str(path)], capsys)["data"]["mode"] == "contrastive"


def test_an_unknown_option_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "-c", str(ROOT / "configs/tiny/contrastive.yaml"), "--model.no_such_option", "1"])
    assert exit_info.value.code != 0
    assert "no_such_option" in capsys.readouterr().err


def test_a_loss_given_by_class_path_takes_its_own_arguments(capsys):
    """How a new loss is configured without registering a name: ``class_path`` + ``init_args``."""
    loss = '{"class_path": "unret.training.losses.ListwiseDistillationLoss", "init_args": {"infonce_weight": 0.3}}'
    config = _printed(["fit", "-c", str(ROOT / "configs/tiny/distill.yaml"), "--model.loss", loss], capsys)
    assert config["model"]["loss"]["class_path"] == "unret.training.losses.ListwiseDistillationLoss"
    assert config["model"]["loss"]["init_args"]["infonce_weight"] == 0.3
