"""stdlib-code builder: on a fake standard library with known traps, and on a few real stdlib modules."""

from __future__ import annotations

import ast
import inspect
import json
import json.decoder
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from unret.datasets import build
from unret.datasets.stdlib_code import SPLITS, assign_splits, build_stdlib_code, extract_pairs, main
from unret.formats import load_beir


def _write(root: Path, rel: str, source: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))


ALPHA = '''
import functools


def kept(x):
    """Return the square of a number, computed the slow way.

    Second paragraph is not part of the query.
    """
    y = x * x
    return y


@functools.lru_cache(maxsize=None)
def decorated(n):
    """Compute the n-th Fibonacci number with memoisation enabled."""
    if n < 2:
        return n
    return decorated(n - 1) + decorated(n - 2)


def short(x):
    """Too short a docstring."""
    return x


def stub(x):
    """Subclasses must override this method to do real work."""
    raise NotImplementedError


def only_doc():
    """This function has nothing but its docstring inside."""


def outer():
    """Outer function that defines a helper function inside itself."""
    def inner():
        """Inner helper functions are part of the outer document only."""
        return 1
    return inner()


class Box:
    """A box."""

    def open(self, force=False):
        """Open the box, forcing the lid when it is stuck."""
        self.lid = "open" if not force else "broken"

    class Inner:
        async def run(self):
            """Run the inner task until it reports completion."""
            await self.task()


def shared_doc_one():
    """This docstring is shared by two different functions."""
    return 1


def same_code_a():
    """First description of a function with duplicated code."""
    return 42
'''

BETA = '''
def shared_doc_two():
    """This   docstring is SHARED by two different functions."""
    return 2


def same_code_a():
    """Second, different description of the duplicated code."""
    return 42
'''


@pytest.fixture
def fake_stdlib(tmp_path) -> Path:
    root = tmp_path / "lib"
    _write(root, "alpha.py", ALPHA)
    _write(root, "beta/__init__.py", "")
    _write(root, "beta/sub.py", BETA)
    skipped = 'def f():\n    """{} is skipped by the builder entirely."""\n    x = 1\n'
    _write(root, "test/test_alpha.py", skipped.format("A test module"))
    _write(root, "idlelib/editor.py", skipped.format("IDLE code"))
    _write(root, "site-packages/pkg.py", skipped.format("Third-party code"))
    _write(root, "broken.py", "def f(:\n")
    for i in range(30):  # enough top-level modules for every split to get some
        _write(root, f"mod{i:02d}.py", "".join(
            f'def f{j}(x):\n    """Module {i} function {j} computes a value."""\n    return x + {100 * i + j}\n\n'
            for j in range(3)))
    return root


def test_extract_pairs_queries_and_documents():
    counts: Counter = Counter()
    pairs = {p.qualname: p for p in extract_pairs(textwrap.dedent(ALPHA), "alpha", counts=counts)}
    assert set(pairs) == {"kept", "decorated", "outer", "Box.open", "Box.Inner.run", "shared_doc_one",
                          "same_code_a"}
    assert pairs["kept"].query == "Return the square of a number, computed the slow way."
    assert pairs["kept"].code == "def kept(x):\n    y = x * x\n    return y"
    assert pairs["decorated"].code.startswith("@functools.lru_cache(maxsize=None)\ndef decorated(n):\n    if n < 2")
    assert pairs["Box.open"].code == 'def open(self, force=False):\n    self.lid = "open" if not force else "broken"'
    assert pairs["Box.Inner.run"].code == "async def run(self):\n    await self.task()"
    assert "Inner helper functions" in pairs["outer"].code  # nested: part of its parent, no pair of its own
    assert counts["short_docstring"] == 1 and counts["stub_body"] == 2


def test_build_on_fake_stdlib(fake_stdlib, tmp_path):
    out = tmp_path / "out"
    stats = build_stdlib_code(out, root=fake_stdlib)
    assert stats["files_unparsable"] == 1
    assert stats["duplicate_docstring"] == 2 and stats["duplicate_code"] == 2  # every copy dropped
    assert stats["corpus"] == 5 + 90 == sum(stats["pairs"].values())
    assert all(stats["pairs"][s] > 0 for s in SPLITS)

    corpus = {r["_id"]: r for r in map(json.loads, (out / "corpus.jsonl").read_text().splitlines())}
    queries = {r["_id"]: r for r in map(json.loads, (out / "queries.jsonl").read_text().splitlines())}
    modules = {r["metadata"]["module"] for r in corpus.values()}
    assert not any(m.startswith(("test", "idlelib", "site-packages", "beta")) for m in modules)
    assert all(r["modality"] == "code" and r["language"] == "python" for r in corpus.values())

    # no docstring appears twice among the queries, and no code twice in the corpus
    assert len({" ".join(q["text"].lower().split()) for q in queries.values()}) == len(queries)
    assert len({d["text"] for d in corpus.values()}) == len(corpus)

    # documents are valid code without their docstring
    for doc_id, row in corpus.items():
        tree = ast.parse(row["text"])
        assert ast.get_docstring(tree.body[0]) is None, doc_id
        assert queries[f"q:{doc_id}"]["text"] not in row["text"]

    # splits: every split loads, judges only its own queries, and no top-level module spans two splits
    split_of_module: dict[str, str] = {}
    judged = 0
    for split in SPLITS:
        ds = load_beir(out, split)
        assert len(ds.corpus) == stats["corpus"]  # one corpus: each split searches every document
        assert len(ds.qrels) == stats["pairs"][split]
        judged += len(ds.qrels)
        for qid, docs in ds.qrels.items():
            assert docs == {qid.removeprefix("q:"): 1}
            top = corpus[qid.removeprefix("q:")]["metadata"]["module"].split(".")[0]
            assert split_of_module.setdefault(top, split) == split
            assert corpus[qid.removeprefix("q:")]["metadata"]["split"] == split
    assert judged == stats["corpus"]
    assert len(set(split_of_module.values())) == 3

    train = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert len(train) == stats["pairs"]["train"]
    assert all(r["positives"][0]["language"] == "python" and r["negatives"] == [] for r in train)
    assert json.loads((out / "stats.json").read_text()) == stats


def test_assign_splits_hits_the_ratios_and_is_deterministic():
    sizes = {f"m{i}": (i * 7919) % 97 + 1 for i in range(150)}
    sizes["huge"] = 600
    a = assign_splits(sizes, seed=0)
    assert a == assign_splits(dict(reversed(list(sizes.items()))), seed=0)  # input order does not matter
    assert a != assign_splits(sizes, seed=1)
    total = sum(sizes.values())
    shares = {s: sum(n for m, n in sizes.items() if a[m] == s) / total for s in SPLITS}
    assert shares == pytest.approx({"train": 0.8, "dev": 0.1, "test": 0.1}, abs=0.03)
    with pytest.raises(ValueError, match="ratios"):
        assign_splits(sizes, ratios=(0.5, 0.5, 0.5))


def test_real_stdlib_modules(tmp_path, capsys):
    out = tmp_path / "real"
    assert main([str(out), "--modules", "json,textwrap,colorsys,shlex"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["corpus"] >= 10 and stats["modules_filter"] == ["colorsys", "json", "shlex", "textwrap"]
    corpus = [json.loads(line) for line in (out / "corpus.jsonl").read_text().splitlines()]
    assert {r["metadata"]["module"].split(".")[0] for r in corpus} <= {"json", "textwrap", "colorsys", "shlex"}
    by_id = {r["_id"]: r for r in corpus}
    assert "json.decoder.JSONDecoder.decode" in by_id
    queries = {r["_id"]: r["text"] for r in map(json.loads, (out / "queries.jsonl").read_text().splitlines())}
    first_paragraph = inspect.cleandoc(json.decoder.JSONDecoder.decode.__doc__).split("\n\n")[0]
    assert queries["q:json.decoder.JSONDecoder.decode"] == " ".join(first_paragraph.split())
    for row in corpus:
        assert ast.get_docstring(ast.parse(row["text"]).body[0]) is None
    assert build("stdlib-code", tmp_path / "again", modules=["json"])["corpus"] > 0
    with pytest.raises(ValueError, match="unknown data set"):
        build("nope", tmp_path)
