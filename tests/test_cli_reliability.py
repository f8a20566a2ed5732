"""``unret index`` / ``remove`` / ``info`` as a tool that keeps the user's work and says what it did: counts
in words, files that no longer exist, empty files, save failures naming the path, empty remove targets,
a closed pipe, ``--save-every nan``, offline model hints, ``--quiet`` (issues 19 and 21)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from unret.cli import main
from unret.cli.errors import BROKEN_PIPE, FAILURE, UNKNOWN_MODEL, USAGE

MINILM = "unret-offline/all-MiniLM-L6-v2"
ROOT = Path(__file__).resolve().parents[1]
PARAGRAPHS = [
    "Rivers carry water from the mountains down to the sea, cutting valleys over thousands of years.",
    "A sourdough starter is a culture of wild yeast and bacteria fed with flour and water every day.",
    "The orbit of a comet is a long ellipse that brings it close to the sun once in many decades.",
]


@pytest.fixture
def corpus(tmp_path, minilm_path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    for i, text in enumerate(PARAGRAPHS):
        (root / f"p{i}.md").write_text(text)
    return root


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _count(idx: Path) -> int:
    from unret.index import VectorIndex

    return len(VectorIndex.load(idx / "index"))


def _cli(*args: str, preexec=None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "unret.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, preexec_fn=preexec)


def test_index_says_what_it_did_in_words(corpus, tmp_path, capsys):
    idx = str(tmp_path / "idx")
    code, out, _ = _run(capsys, "index", str(corpus / "p0.md"), "--model", MINILM, "--out", idx, "--quiet")
    assert code == 0 and out.startswith("indexed 1 file (1 item) into"), out
    (corpus / "empty.txt").write_text("")
    code, out, err = _run(capsys, "index", str(corpus), "--out", idx, "--quiet")
    assert code == 0 and out.startswith("indexed 2 files (2 items)") and "1 unchanged" in out, out
    assert "skipped 0 unreadable, 1 empty" in out and "empty.txt" not in err

    (corpus / "p1.md").unlink()
    code, out, err = _run(capsys, "index", str(corpus), "--out", idx, "--quiet")
    assert code == 0 and "0 deleted files removed" in out and _count(Path(idx)) == 3
    assert f"note: 1 indexed file under {corpus} no longer exists; run with --sync" in err, err
    code, out, err = _run(capsys, "index", str(corpus), "--out", idx, "--quiet", "--sync")
    assert code == 0 and "1 deleted file removed" in out and "no longer exist" not in err
    assert _count(Path(idx)) == 2


def test_truncation_advice_fits_the_chunking_in_use(corpus, tmp_path, capsys):
    (corpus / "one_line.txt").write_text(" ".join(PARAGRAPHS) * 30)
    code, _, err = _run(capsys, "index", str(corpus), "--model", MINILM, "--out", str(tmp_path / "a"), "--quiet")
    assert code == 0 and "--chunking auto" not in err, err  # auto is on: the long line is chunked, not cut
    code, _, err = _run(capsys, "index", str(corpus), "--model", MINILM, "--out", str(tmp_path / "b"), "--quiet",
                        "--chunking", "none")
    assert code == 0 and "warning: 1 item exceeds the model's max length" in err
    assert "use --chunking auto" in err


def test_remove_refuses_an_empty_target(corpus, tmp_path, capsys, monkeypatch):
    idx = tmp_path / "idx"
    assert main(["index", str(corpus), "--model", MINILM, "--out", str(idx), "--quiet"]) == 0
    monkeypatch.chdir(corpus)  # "" resolves to the working folder: every file indexed under it
    for target in ("", " "):
        code, _, err = _run(capsys, "remove", str(idx), str(corpus / "p0.md"), target)
        assert code == USAGE and err.startswith("unret: error: empty remove target") and len(err.splitlines()) == 1
    assert _count(idx) == len(PARAGRAPHS)


def test_save_every_must_be_a_number():
    for value in ("nan", "NaN", "-1"):
        with pytest.raises(SystemExit) as exit_info:
            main(["index", ".", "--out", "x", "--save-every", value])
        assert exit_info.value.code == USAGE


def test_info_into_a_closed_pipe_exits_quietly(corpus, tmp_path, capsys):
    idx = tmp_path / "idx"
    assert main(["index", str(corpus), "--model", MINILM, "--out", str(idx), "--quiet"]) == 0
    for args in (["info", str(idx)], ["info", str(idx), "--json"]):
        proc = _cli(*args)
        proc.stdout.close()  # the reader is gone before unret writes (`unret info IDX | head -0`)
        err = proc.stderr.read()
        assert proc.wait(timeout=120) == BROKEN_PIPE and err == "", err


def test_a_hub_name_offline_suggests_the_offline_preset(corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = _run(capsys, "index", str(corpus), "--model", "sentence-transformers/all-MiniLM-L6-v2",
                        "--out", str(tmp_path / "idx"))
    assert code == UNKNOWN_MODEL and "did you mean 'unret-offline/all-MiniLM-L6-v2'?" in err, err


def test_quiet_silences_the_recipe_warning(tiny_text_path, corpus, tmp_path):
    def recipe_warnings(*extra: str) -> list[str]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert main(["index", str(corpus), "--model", str(tiny_text_path), "--out",
                         str(tmp_path / f"idx{len(extra)}"), *extra]) == 0
        return [str(w.message) for w in caught if type(w.message).__name__ == "RecipeWarning"]

    assert recipe_warnings()  # the tiny decoder has no known recipe: a person indexing is told so
    assert recipe_warnings("--quiet") == []


SAVE_UNDER_LIMIT = textwrap.dedent("""
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    from unret.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_a_file_too_large_for_the_disk_names_the_index_and_keeps_the_last_save(corpus, tmp_path, capsys):
    idx = tmp_path / "idx"
    assert main(["index", str(corpus / "p0.md"), "--model", MINILM, "--out", str(idx), "--quiet"]) == 0
    proc = subprocess.run([sys.executable, "-c", SAVE_UNDER_LIMIT, "index", str(corpus), "--out", str(idx), "--quiet"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == FAILURE and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"unret: error: cannot save the index to {idx}: file too large"), lines
    assert _count(idx) == 1  # the previous save


def test_a_full_disk_names_the_index(corpus, tmp_path, capsys, monkeypatch):
    import unret.store.document_store

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(unret.store.document_store, "atomic_write_text", full)  # the last file of a save
    code, _, err = _run(capsys, "index", str(corpus), "--model", MINILM, "--out", str(tmp_path / "idx"), "--quiet")
    assert code == FAILURE and len(err.strip().splitlines()) == 1
    assert err.startswith(f"unret: error: cannot save the index to {tmp_path / 'idx'}: no space left on device"), err


def test_the_exit_codes_in_the_docs_agree_with_the_code():
    import re

    import unret.cli.errors as errors

    page = (ROOT / "docs" / "indexing.md").read_text().split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    in_docs = {int(m) for m in re.findall(r"^\| (\d+) \|", page, flags=re.M)}
    in_module = {int(m) for m in re.findall(r"^(\d+) {2,}", errors.__doc__ or "", flags=re.M)}
    constants = {v for k, v in vars(errors).items() if k.isupper() and isinstance(v, int)}
    assert in_docs == in_module == constants, (in_docs, in_module, constants)
