"""emoji builder: on a fake emoji-datasource-google package with known traps (no network), as a folder, a
tarball and through a fake ``npm`` on PATH."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from tests.conftest import random_image
from unret.cli import build_parser
from unret.datasets import build
from unret.datasets.emoji import IMAGE_DIR, SPLITS, build_emoji, main
from unret.formats import load_beir

NUM_SUBCATEGORIES, PER_SUBCATEGORY = 30, 2


def _entry(name: str, image: str, subcategory: str, category: str = "Objects", **extra) -> dict:
    return {"name": name, "unified": image.removesuffix(".png").upper(), "image": image,
            "short_name": name.lower().replace(" ", "_"), "category": category, "subcategory": subcategory,
            "has_img_google": True, **extra}


def _png(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    random_image(8, 8, seed=seed).convert("RGBA").save(path)


@pytest.fixture
def fake_package(tmp_path) -> Path:
    """``package/`` as npm unpacks it: 60 good emoji in 30 subcategories plus one of every trap."""
    root = tmp_path / "unpacked" / "package"
    images = root / IMAGE_DIR
    entries = []
    for s in range(NUM_SUBCATEGORIES):
        for j in range(PER_SUBCATEGORY):
            code = f"1f{s:02d}{j}"
            entries.append(_entry(f"THING  {s} NUMBER {j}", f"{code}.png", f"sub-{s}"))
            _png(images / f"{code}.png", seed=100 * s + j)
    entries[0]["skin_variations"] = {"1F3FB": {"image": "1f000-1f3fb.png"}}
    _png(images / "1f000-1f3fb.png", seed=9999)
    traps = [
        _entry("EMOJI MODIFIER FITZPATRICK TYPE-3", "1f3fc.png", "skin-tone", category="Component"),
        _entry("NO GOOGLE PICTURE", "2000.png", "sub-0", has_img_google=False),
        _entry("IMAGE FILE MISSING", "2001.png", "sub-0"),
        _entry("CORRUPT IMAGE", "2002.png", "sub-0"),
        _entry("MAN IN TUXEDO", "2003.png", "sub-1"),
        _entry("Man in  tuxedo", "2004.png", "sub-1"),  # same name once lowercased: both copies dropped
        _entry("Norway Flag", "2005.png", "sub-2"),
        _entry("Svalbard & Jan Mayen Flag", "2006.png", "sub-2"),  # same picture as Norway: both dropped
    ]
    entries += traps
    for code, seed in (("1f3fc", 1), ("2000", 2), ("2003", 3), ("2004", 4), ("2005", 5)):
        _png(images / f"{code}.png", seed=seed)
    (images / "2002.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    (images / "2006.png").write_bytes((images / "2005.png").read_bytes())
    (root / "emoji.json").write_text(json.dumps(entries))
    (root / "package.json").write_text(json.dumps({"name": "emoji-datasource-google", "version": "0.0.7"}))
    (root / "LICENSE").write_text("MIT")
    (root / "img" / "google" / "sheets").mkdir(parents=True)
    (root / "img" / "google" / "sheets" / "sheet.png").write_bytes(b"big sprite sheet, not read")
    return root


def test_build_from_unpacked_folder(fake_package, tmp_path):
    out = tmp_path / "out"
    stats = build_emoji(out, source=fake_package.parent)  # npm's parent folder, with package/ inside
    good = NUM_SUBCATEGORIES * PER_SUBCATEGORY
    assert stats["emoji"] == good + 8 and stats["version"] == "0.0.7"
    assert (stats["component"], stats["no_google_image"], stats["missing_image"], stats["unreadable_image"]) == (
        1, 1, 1, 1)
    assert stats["duplicate_name"] == 2 and stats["duplicate_image"] == 2 and stats["skin_variations"] == 1
    assert stats["corpus"] == good == sum(stats["pairs"].values())
    assert all(stats["pairs"][s] > 0 for s in SPLITS)

    corpus = {r["_id"]: r for r in map(json.loads, (out / "corpus.jsonl").read_text().splitlines())}
    queries = {r["_id"]: r for r in map(json.loads, (out / "queries.jsonl").read_text().splitlines())}
    assert queries["q:1f000"]["text"] == "thing 0 number 0"  # lowercased, whitespace collapsed
    assert not {"2003", "2004", "2005", "2006", "1f3fc", "1f000-1f3fb"} & set(corpus)
    for doc_id, row in corpus.items():
        assert row["modality"] == "image" and row["image"] == f"images/{doc_id}.png"
        assert (out / row["image"]).read_bytes() == (fake_package / IMAGE_DIR / f"{doc_id}.png").read_bytes()
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(f"{d}.png" for d in corpus)

    split_of_subcategory: dict[str, str] = {}
    judged = 0
    for split in SPLITS:
        ds = load_beir(out, split)
        assert len(ds.corpus) == good and all(isinstance(spec, Path) for spec in ds.corpus.values())
        assert len(ds.qrels) == stats["pairs"][split]
        for qid, docs in ds.qrels.items():
            doc_id = qid.removeprefix("q:")
            assert docs == {doc_id: 1} and ds.queries[qid].text == queries[qid]["text"]
            sub = corpus[doc_id]["metadata"]["subcategory"]
            assert split_of_subcategory.setdefault(sub, split) == split  # no subcategory straddles splits
            assert corpus[doc_id]["metadata"]["split"] == split
        judged += len(ds.qrels)
    assert judged == good

    from unret.training.data import JsonlDataset

    train = JsonlDataset(out / "train.jsonl")  # what `unret fit` reads: image paths resolve from the file
    assert len(train) == stats["pairs"]["train"]
    assert all(ex.positives[0].modality == "image" and ex.query.modality == "text" for ex in train.examples)
    assert json.loads((out / "stats.json").read_text()) == stats


def _tarball(package: Path, path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        tar.add(package, arcname="package")
        evil = tarfile.TarInfo("../emoji.json")  # looks like a wanted file, but lies outside the folder
        evil.size = 2
        tar.addfile(evil, io.BytesIO(b"[]"))
    return path


def test_build_from_tarball_and_through_npm(fake_package, tmp_path, monkeypatch):
    tgz = _tarball(fake_package, tmp_path / "emoji-datasource-google-0.0.7.tgz")
    from_folder = build_emoji(tmp_path / "a", source=fake_package)
    from_tgz = build_emoji(tmp_path / "b", source=tgz)
    assert {k: v for k, v in from_tgz.items() if k != "source"} == {
        k: v for k, v in from_folder.items() if k != "source"}
    assert (tmp_path / "a" / "corpus.jsonl").read_text() == (tmp_path / "b" / "corpus.jsonl").read_text()

    # a fake npm: records its arguments and "packs" the tarball into its working folder
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "npm-args.txt"
    npm = bin_dir / "npm"
    npm.write_text(f'#!/bin/sh\necho "$@" > "{log}"\ncp "{tgz}" .\necho {tgz.name}\n')
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    stats = build_emoji(tmp_path / "c", version="0.0.7")
    assert log.read_text().split() == ["pack", "emoji-datasource-google@0.0.7", "--silent"]
    assert stats["source"] == "npm:emoji-datasource-google@0.0.7" and stats["corpus"] == from_folder["corpus"]
    assert not [p for p in tmp_path.rglob("emoji.json") if p.parent.name != "package"]  # nothing outside package/

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="npm not found"):
        build_emoji(tmp_path / "d")


def test_registry_cli_and_rebuild(fake_package, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "images").mkdir(parents=True)
    (out / "images" / "stale.png").write_bytes(b"from an older build")
    stats = build("emoji", out, source=fake_package)
    assert not (out / "images" / "stale.png").exists()
    assert main([str(tmp_path / "again"), "--source", str(fake_package), "--seed", "1"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["corpus"] == stats["corpus"] and again["seed"] == 1
    args = build_parser().parse_args(["datasets", "build", "emoji", "--out", str(out)])
    assert args.name == "emoji"
    with pytest.raises(FileNotFoundError, match=r"no emoji\.json"):
        build_emoji(tmp_path / "x", source=tmp_path / "nothing-here")
