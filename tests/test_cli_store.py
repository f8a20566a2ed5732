"""``unret index --store SPEC`` picks the vector store of a new index and records it in the config."""

from __future__ import annotations

import json

from unret.cli import main
from unret.cli.errors import USAGE


def test_index_store_option_records_the_kind_and_refuses_an_unknown_one(minilm_path, tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a small file about lighthouses\n")
    assert main(["index", str(src), "--model", str(minilm_path), "--out", str(tmp_path / "ix"), "--store",
                 "usearch", "--quiet"]) == 0
    assert json.loads((tmp_path / "ix" / "unret_config.json").read_text())["store"] == {"kind": "usearch"}
    capsys.readouterr()
    assert main(["index", str(src), "--model", str(minilm_path), "--out", str(tmp_path / "bad"), "--store",
                 "nosuch://host/c", "--quiet"]) == USAGE
    assert "unknown store 'nosuch://host/c'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
