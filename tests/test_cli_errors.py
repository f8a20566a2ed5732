"""The ``unret`` command as a tool: every mistake is one line on stderr with its own exit code, no traceback;
search takes many queries; info / remove; Ctrl-C keeps finished work; --help, --version, --quiet."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from unret.cli import main
from unret.cli.errors import (
    BAD_DATA,
    CORRUPT_INDEX,
    INTERRUPTED,
    MODEL_MISMATCH,
    NOT_FOUND,
    UNKNOWN_MODEL,
    USAGE,
)
from unret.corpus import canonical_id

STDLIB = Path(os.__file__).parent
MINILM = "unret-offline/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def built(tmp_path_factory, minilm_path):
    """A small real index (three stdlib modules, MiniLM) built through the CLI."""
    root = tmp_path_factory.mktemp("cli")
    corpus = root / "corpus"
    corpus.mkdir()
    for name in ("fnmatch.py", "shlex.py", "json/decoder.py"):
        shutil.copy(STDLIB / name, corpus / Path(name).name)
    assert main(["index", str(corpus), "--model", MINILM, "--out", str(root / "idx"), "--quiet"]) == 0
    return root


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("unret: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_user_mistakes_get_one_line_and_distinct_codes(built, tmp_path, capsys, monkeypatch):
    idx, corpus = str(built / "idx"), str(built / "corpus")
    (tmp_path / "empty_beir").mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "thesis.docx").write_text("mine")
    cases = [
        (["index", corpus, "--model", "unret-offline/all-MiniLM-L6-v3", "--out", str(tmp_path / "a")],
         UNKNOWN_MODEL, ["unknown model 'unret-offline/all-MiniLM-L6-v3'"]),
        (["index", corpus, "--model", "sentence-transformers/all-MiniLM-L6-v9", "--out", str(tmp_path / "a")],
         UNKNOWN_MODEL, ["unknown model", "not a local folder"]),
        (["index", str(tmp_path / "nope"), "--model", MINILM, "--out", str(tmp_path / "a")], NOT_FOUND, ["nope"]),
        (["index", corpus, "--out", str(tmp_path / "a")], USAGE, ["--model is required"]),
        (["index", corpus, "--model", MINILM, "--out", str(tmp_path / "junk")], USAGE, ["not an unret index"]),
        (["index", corpus, "--model", "unret-testing/tiny-qwen2", "--out", idx], MODEL_MISMATCH,
         [MINILM, "unret-testing/tiny-qwen2"]),
        (["search", str(tmp_path / "nope"), "q"], NOT_FOUND, ["no index at"]),
        (["search", str(tmp_path / "junk"), "q"], NOT_FOUND, ["not an unret index"]),
        (["search", idx, "  "], USAGE, ["query #1 is empty"]),
        (["search", idx], USAGE, ["give a query"]),
        (["search", idx, "-f", str(tmp_path / "queries.txt")], NOT_FOUND, ["queries.txt"]),
        (["info", str(tmp_path / "nope")], NOT_FOUND, ["no index at"]),
        (["remove", idx, str(tmp_path / "never-indexed.py")], NOT_FOUND, ["never-indexed.py"]),
        (["evaluate", "--model", "bm25", "--data", str(tmp_path / "missing")], NOT_FOUND, ["missing"]),
        (["evaluate", "--model", "bm25", "--data", str(tmp_path / "empty_beir")], BAD_DATA,
         ["not a BEIR folder", "corpus.jsonl"]),
        (["mine", "--model", MINILM, "--data", str(tmp_path / "empty_beir"), "--out", "x.jsonl"], BAD_DATA,
         ["qrels/train.tsv"]),
    ]
    codes = set()
    for argv, code, needles in cases:
        got, _, err = _run(capsys, *argv)
        assert got == code, (argv, got, err)
        _one_line_error(err, *needles)
        codes.add(code)
    assert codes == {USAGE, NOT_FOUND, BAD_DATA, MODEL_MISMATCH, UNKNOWN_MODEL}
    assert not (tmp_path / "a").exists() and (tmp_path / "junk" / "thesis.docx").read_text() == "mine"
    for argv in (["search", idx, "q", "-k", "0"], ["search", idx, "q", "--modality", "imgae"],
                 ["search", idx, "q", "--where", "oops"]):
        with pytest.raises(SystemExit) as exit_info:  # argparse's usage errors: code 2, one line after usage
            main(argv)
        assert exit_info.value.code == USAGE
        assert capsys.readouterr().err.strip().splitlines()[-1].startswith("unret search: error: argument")


def test_corrupt_index_is_one_line_and_debug_shows_the_traceback(built, tmp_path, capsys):
    broken = tmp_path / "idx"
    shutil.copytree(built / "idx", broken)
    catalog = next(p for p in (broken / "index").iterdir() if p.suffix == ".npy")
    catalog.write_bytes(catalog.read_bytes()[:100])
    code, _, err = _run(capsys, "search", str(broken), "parse a shell command line")
    assert code == CORRUPT_INDEX
    _one_line_error(err, str(broken))
    with pytest.raises(Exception, match=catalog.name):
        main(["search", str(broken), "q", "--debug"])


def test_search_many_queries_from_args_file_and_stdin(built, tmp_path, capsys, monkeypatch):
    idx = str(built / "idx")
    queries = ["split a shell command line into words", "match a file name against a wildcard pattern"]
    code, out, _ = _run(capsys, "search", idx, *queries, "-k", "2", "--json", "--quiet")
    assert code == 0
    results = json.loads(out)
    assert [r["query"] for r in results] == queries
    assert [Path(r["hits"][0]["source"]).name for r in results] == ["shlex.py", "fnmatch.py"]
    hit = results[0]["hits"][0]
    assert {"id", "score", "modality", "language", "start_line", "end_line", "snippet"} <= set(hit)
    (tmp_path / "q.txt").write_text("\n".join(queries) + "\n\n")
    code, out, _ = _run(capsys, "search", idx, "-f", str(tmp_path / "q.txt"), "-k", "2", "--json")
    assert code == 0 and [[h["id"] for h in r["hits"]] for r in json.loads(out)] == [
        [h["id"] for h in r["hits"]] for r in results]
    monkeypatch.setattr(sys, "stdin", io.StringIO(queries[1] + "\n"))
    code, out, _ = _run(capsys, "search", idx, "-f", "-", "-k", "2", "--json")
    alone = json.loads(out)  # one query: the plain list of hits (scores equal up to float rounding)
    assert code == 0 and [h["id"] for h in alone] == [h["id"] for h in results[1]["hits"]]
    assert [h["score"] for h in alone] == pytest.approx([h["score"] for h in results[1]["hits"]], abs=1e-5)
    code, out, _ = _run(capsys, "search", idx, queries[1], "-k", "3", "--per-file", "--json")
    sources = [h["source"] for h in json.loads(out)]
    assert len(sources) == len(set(sources)) == 3  # one hit per file, three files


def test_info_and_remove(built, tmp_path, capsys):
    idx = tmp_path / "idx"
    shutil.copytree(built / "idx", idx)
    code, out, _ = _run(capsys, "info", str(idx), "--json")
    info = json.loads(out)
    assert code == 0 and info["files"] == 3 and info["modalities"] == {"code": info["items"]}
    assert info["model"] == MINILM and info["dim"] == 384 and info["bytes"] > 0 and info["updated"]
    shlex_path = str(built / "corpus" / "shlex.py")
    from unret.index import VectorIndex

    shlex_items = sum(1 for i in VectorIndex.load(idx / "index").ids() if i.startswith(canonical_id(shlex_path)))
    code, out, _ = _run(capsys, "remove", str(idx), shlex_path)
    assert code == 0 and f"removed {shlex_items} items" in out
    code, out, _ = _run(capsys, "info", str(idx), "--json")
    assert json.loads(out)["files"] == 2 and json.loads(out)["items"] == info["items"] - shlex_items


def test_help_lists_every_subcommand_and_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for command in ("index", "search", "info", "remove", "demo", "mine", "evaluate", "datasets", "serve", "fit"):
        assert f"    {command}" in out, command
    with pytest.raises(SystemExit):
        main(["--version"])
    from unret import __version__

    assert capsys.readouterr().out.strip() == f"unret {__version__}"


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "unret.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kwargs)


def test_quiet_silences_weight_loading(built):
    proc = _cli("search", str(built / "idx"), "wildcard pattern", "-k", "1", "--quiet")
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0 and err == "" and "fnmatch.py" in out


def test_ctrl_c_keeps_finished_chunks(minilm_path, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("shlex.py", "fnmatch.py", "textwrap.py", "glob.py", "json/decoder.py", "json/encoder.py",
                 "email/utils.py", "email/charset.py"):  # ~230 chunks
        shutil.copy(STDLIB / name, corpus / name.replace("/", "_"))
    out = tmp_path / "idx"
    proc = _cli("index", str(corpus), "--model", MINILM, "--out", str(out), "--save-every", "0", "--commit-every",
                "16", "--quiet")
    deadline = time.monotonic() + 240
    while not (out / "unret_config.json").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)  # the first group of files has been committed and saved
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == INTERRUPTED
    assert len(err.strip().splitlines()) == 1 and err.startswith("interrupted: saved"), err
    from unret.index import VectorIndex

    done = len(VectorIndex.load(out / "index"))
    assert done > 0
    rest = _cli("index", str(corpus), "--out", str(out), "--quiet")
    summary, err = rest.communicate(timeout=300)
    assert rest.returncode == 0, err
    unchanged = int(summary.split(" unchanged")[0].rsplit(" ", 1)[-1])
    assert unchanged > 0  # what was saved before Ctrl-C is not embedded again
    assert len(VectorIndex.load(out / "index")) > done
