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


def test_a_milvus_lite_index_is_searched_and_described_through_the_cli(minilm_path, tmp_path, capsys):
    """`--store milvus+lite://…` end to end: the vectors live in Milvus, `unret search` finds the document,
    `unret info` names the store it reads."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "lighthouse.txt").write_text("a lighthouse guides ships along the coast at night\n")
    (src / "bread.txt").write_text("bread rises when yeast ferments the dough\n")
    spec = f"milvus+lite://{tmp_path / 'vectors.db'}?collection=docs"
    out = tmp_path / "ix"
    assert main(["index", str(src), "--model", str(minilm_path), "--out", str(out), "--store", spec, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["search", str(out), "how do ships find the coast", "-k", "1", "--json", "--quiet"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert [h["id"] for h in hits] == [str((src / "lighthouse.txt").resolve())]
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["store"] == spec and info["items"] == 2
