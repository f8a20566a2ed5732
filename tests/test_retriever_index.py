"""UnifiedRetriever with its index: add, search, filter, remove, save/load, model checks, files, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import random_image
from unret import Code, InputError, NoIndexError, UnifiedRetriever
from unret.cli import main
from unret.files import index_paths
from unret.index import ManifestMismatchError


@pytest.fixture
def filled(tiny_vl_path):
    r = UnifiedRetriever.from_pretrained(tiny_vl_path)
    images = [random_image(56 + 28 * i, 84, seed=10 + i) for i in range(3)]
    inputs = ["rivers flow to the sea", Code("def add(a, b):\n    return a + b", "python"), *images,
              (random_image(60, 60, seed=20), "a caption")]
    ids = ["text-1", "code-1", "img-0", "img-1", "img-2", "pair-1"]
    metas = [{"lang": "en"}, {"lang": "py"}, {"n": 0}, {"n": 1}, {"n": 2}, None]
    assert r.add(inputs, ids=ids, metadata=metas) == ids
    return r, images


def test_search_finds_a_known_image_and_filters_by_modality(filled):
    r, images = filled
    hits = r.search(images[1], k=3)
    assert hits[0].id == "img-1" and hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert hits[0].modality == "image" and hits[0].metadata == {"n": 1}
    for modality in ("text", "code", "image", "image+text"):
        got = r.search("anything", k=10, modality=modality)
        assert got and all(h.modality == modality for h in got)
    assert [h.id for h in r.search("x", k=10, where={"lang": "py"})] == ["code-1"]
    batch = r.search(["q one", images[0]], k=2)
    assert len(batch) == 2 and batch[1][0].id == "img-0"


def test_a_retriever_with_nothing_indexed_says_so(tiny_vl_path):
    r = UnifiedRetriever.from_pretrained(tiny_vl_path, recipe="oneword")
    for call in (lambda: r.search("q"), lambda: r.remove(["a"])):
        with pytest.raises(NoIndexError, match="no index yet"):
            call()
    assert issubclass(NoIndexError, RuntimeError)  # code written against the old RuntimeError still catches it


def test_remove_and_upsert(filled):
    r, images = filled
    assert r.remove(["img-1"]) == 1 and len(r) == 5
    assert all(h.id != "img-1" for h in r.search(images[1], k=10))
    with pytest.raises(KeyError, match="nope"):
        r.remove(["text-1", "nope"])
    assert len(r) == 5  # nothing removed
    r.add([images[2]], ids=["code-1"], metadata=[{"replaced": True}])  # upsert: same id, new content
    assert len(r) == 5
    top = r.search(images[2], k=2)
    assert {h.id for h in top} == {"img-2", "code-1"}
    assert next(h for h in top if h.id == "code-1").metadata == {"replaced": True}


def test_bad_input_leaves_the_index_unchanged(filled, tmp_path):
    r, _ = filled
    missing = tmp_path / "missing.png"
    with pytest.raises(InputError, match="input #1: image file not found"):
        r.add(["fine", str(missing)], ids=["a", "b"])
    with pytest.raises(ValueError, match="2 inputs but 1 ids"):
        r.add(["x", "y"], ids=["only-one"])
    assert len(r) == 6 and "a" not in r.index


def test_save_load_round_trip(filled, tmp_path):
    r, images = filled
    queries = ["rivers", Code("def add(x, y): return x + y"), images[0]]
    before = r.search(queries, k=4)
    r.save(tmp_path / "idx")
    for view in (False, True):
        again = UnifiedRetriever.load(tmp_path / "idx", view=view)
        after = again.search(queries, k=4)
        assert [[h.id for h in hs] for hs in after] == [[h.id for h in hs] for hs in before]
        for hs, gs in zip(after, before, strict=True):
            assert [h.score for h in hs] == pytest.approx([g.score for g in gs], abs=1e-5)
    with pytest.raises(RuntimeError, match="read-only"):
        again.add(["more"], ids=["m"])


def test_self_contained_save_survives_a_moved_model(filled, tmp_path):
    r, images = filled
    r.save(tmp_path / "idx", include_model=True)
    again = UnifiedRetriever.load(tmp_path / "idx")
    assert again.search(images[2], k=1)[0].id == "img-2"


def test_load_refuses_a_different_model(filled, tmp_path, tiny_text_path):
    from unret.testing import tiny_qwen25_vl_path

    r, _ = filled
    r.save(tmp_path / "idx")
    other_weights = tiny_qwen25_vl_path(seed=1)  # same architecture and dim, other weights
    with pytest.raises(ManifestMismatchError, match="embeds differently"):
        UnifiedRetriever.load(tmp_path / "idx", model=other_weights)
    with pytest.raises(ManifestMismatchError, match="dim"):
        UnifiedRetriever.load(tmp_path / "idx", model=tiny_text_path, truncate_dim=32)


def test_index_paths_skips_bad_files_and_keeps_going(tiny_vl_path, tmp_path):
    root = tmp_path / "corpus"
    (root / "src").mkdir(parents=True)
    (root / "src" / "m.py").write_text("def f():\n    return 1\n")
    (root / "notes.md").write_text("some notes")
    random_image(40, 40).save(root / "ok.png")
    good = root / "cut.png"
    random_image(64, 64, seed=5).save(good)
    good.write_bytes(good.read_bytes()[:200])  # valid header, truncated pixels: fails only when decoded
    (root / "garbage.jpg").write_bytes(b"not an image")
    (root / "data.bin").write_bytes(b"\x00\x01")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD.md").write_text("hidden")
    r = UnifiedRetriever.from_pretrained(tiny_vl_path)
    report = index_paths(r, [root], show_progress=False)
    assert sorted(report.added) == sorted(str(root / p) for p in ("src/m.py", "notes.md", "ok.png"))
    assert sorted(s for s, _ in report.skipped) == sorted([str(good), str(root / "garbage.jpg")])
    assert report.ignored == 1 and len(r) == 3
    assert r.index.get(str(root / "src" / "m.py"))[0] == "code"


def test_cli_index_and_search(tiny_vl_path, tmp_path, capsys):
    root = tmp_path / "c"
    root.mkdir()
    (root / "a.py").write_text("def parse_url(u):\n    return u.split('/')\n")
    random_image(50, 70).save(root / "pic.png")
    (root / "broken.png").write_bytes(b"nope")
    out = tmp_path / "idx"
    assert main(["index", str(root), "--model", str(tiny_vl_path), "--out", str(out), "--quiet"]) == 0
    assert "indexed 2 files" in capsys.readouterr().out
    assert main(["search", str(out), "parse a url", "-k", "5", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert {h["id"] for h in hits} == {str(root / "a.py"), str(root / "pic.png")}
    assert main(["search", str(out), str(root / "pic.png"), "--modality", "image"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["#", "score", "modality"] and "pic.png" in table[1]


def test_cli_model_args_reach_the_backbone_and_are_kept(tiny_vl_path, tmp_path, capsys):
    root = tmp_path / "c"
    root.mkdir()
    random_image(300, 200).save(root / "big.png")
    out = tmp_path / "idx"
    args = ["index", str(root), "--model", str(tiny_vl_path), "--out", str(out), "--quiet",
            "--model-arg", "max_pixels=6272", "--model-arg", "prompts=plain"]
    assert main(args) == 0
    capsys.readouterr()
    loaded = UnifiedRetriever.load(out)
    assert loaded.backbone.max_pixels == 6272 and loaded.backbone.prompts.name == "plain"
    # The stored vector is the one a retriever built with those arguments makes (not the defaults').
    direct = UnifiedRetriever.from_pretrained(tiny_vl_path, max_pixels=6272, prompts="plain")
    stored = loaded.index.vectors([str(root / "big.png")])
    np.testing.assert_allclose(stored, direct.encode_documents([root / "big.png"], convert_to="numpy"), atol=1e-5)
    with pytest.raises(SystemExit) as exit_info:  # a usage error: argparse's exit code 2, before any model loads
        main(["index", str(root), "--model", str(tiny_vl_path), "--out", str(tmp_path / "x"), "--model-arg", "oops"])
    assert exit_info.value.code == 2
    assert "--model-arg: expects KEY=VALUE, got 'oops'" in capsys.readouterr().err


def test_save_refuses_an_index_folder_holding_other_files(filled, tmp_path):
    from unret.errors import IndexPathError

    r, _ = filled
    mine = tmp_path / "out" / "index"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(IndexPathError, match="not an unret index"):
        r.save(tmp_path / "out")
    assert (mine / "notes.txt").read_text() == "mine" and sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(("content", "message"), [
    (lambda text: text[: len(text) // 2], "not valid JSON"),
    (lambda text: text.replace('"format_version": 1', '"format_version": 99'), "unsupported format_version 99"),
    (lambda text: "[]", "unsupported format_version None"),
    (lambda text: json.dumps({**json.loads(text), "model": None}), "needs 'model'"),
])
def test_load_refuses_a_damaged_or_newer_config_naming_it(filled, tmp_path, content, message):
    from unret.errors import IndexCorruptError

    r, _ = filled
    r.save(tmp_path / "idx")
    config = tmp_path / "idx" / "unret_config.json"
    config.write_text(content(config.read_text()))
    with pytest.raises(IndexCorruptError, match=f"unret_config.json.*{message}"):
        UnifiedRetriever.load(tmp_path / "idx")


@pytest.mark.parametrize(("content", "message"), [
    (lambda text: text[: len(text) // 2], "not valid JSON"),
    (lambda text: text.replace('"format_version": 1', '"format_version": 99'), "unsupported format_version 99"),
    (lambda text: json.dumps({**json.loads(text), "backbone": None}), "needs a 'backbone'"),
])
def test_from_pretrained_refuses_a_damaged_saved_config_naming_it(filled, tmp_path, content, message):
    from unret.errors import IndexCorruptError

    r, _ = filled
    r.save_pretrained(tmp_path / "model")
    config = tmp_path / "model" / "unret_config.json"
    config.write_text(content(config.read_text()))
    with pytest.raises(IndexCorruptError, match=f"unret_config.json.*{message}"):
        UnifiedRetriever.from_pretrained(tmp_path / "model")
