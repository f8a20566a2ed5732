"""``stdlib-code``: docstring → function retrieval over the running Python's standard library.

A real natural-language → code retrieval set that needs no download (CodeSearchNet-style): every
function or method of the standard library whose docstring's first paragraph has at least 5 words
becomes a pair — the query is that paragraph (whitespace collapsed), the document is the function's
source (decorators included) with the docstring removed.

Choices, and why:

* **Deduplication.** A docstring shared by several functions (overloads, platform variants, copied
  helpers) has several right answers but one judgement, so *every* pair whose docstring appears more than
  once is dropped, and likewise every pair whose code (whitespace-normalised) appears more than once.
* **Splits by top-level module** (``email`` for ``email.mime.text``), so train and test never share a
  module's vocabulary, helpers or style: modules are taken in the order of a salted hash of their names
  and each fills the split furthest below its 80/10/10 share of pairs (`assign_splits`). The
  assignment depends on the whole module set, i.e. on the Python version; ``stats.json`` records both.
* **One corpus for all splits.** ``corpus.jsonl`` holds every split's documents, and each split's
  queries are judged against all of them: the test split searches the whole standard library, which is
  harder and closer to real use than a per-split corpus. Each document's ``metadata.split`` says where it
  belongs, so hard-negative mining for training can stay within the train split.
* Skipped: tests, ``idlelib``, ``lib2to3``, ``turtledemo``, ``site-packages`` and other non-library
  folders; stubs whose body is only ``pass`` / ``...`` / ``raise NotImplementedError``; functions nested
  in functions (their text is part of the enclosing function's document).

Output (BEIR format, read by `unret.formats.load_beir`): ``corpus.jsonl`` (``modality:
code``, ``language: python``), ``queries.jsonl``, ``qrels/{train,dev,test}.tsv``, ``train.jsonl`` (training
rows ``{"query", "positives": [{"code", "language"}], "negatives": []}``) and ``stats.json``. The
content depends on the Python version; ``stats.json`` records it.

Run: ``python -m unret.datasets.stdlib_code OUT_DIR [--seed 0] [--modules json,email]``.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import platform
import re
import sysconfig
import tokenize
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unret.atomic import atomic_write_text
from unret.formats import write_jsonl, write_qrels

NAME = "stdlib-code"
SPLITS: tuple[str, ...] = ("train", "dev", "test")
MIN_WORDS = 5
# Folder names skipped at any depth: tests, demos, tools and third-party code, not library code.
SKIP_DIRS = frozenset({
    "test", "tests", "idle_test", "idlelib", "lib2to3", "turtledemo", "site-packages", "dist-packages",
    "__pycache__", "lib-dynload", "pydoc_data", "ensurepip", "__phello__",
})
SKIP_FILES = frozenset({"__hello__.py", "antigravity.py", "this.py"})
_PARAGRAPH = re.compile(r"\n\s*\n")


@dataclass
class Pair:
    """One query/document pair before deduplication and splitting."""

    module: str
    qualname: str
    path: str
    lineno: int
    query: str
    code: str

    @property
    def top_module(self) -> str:
        return self.module.split(".", 1)[0]


def stdlib_dir() -> Path:
    """The running interpreter's standard library folder."""
    return Path(sysconfig.get_paths()["stdlib"])


def assign_splits(sizes: dict[str, int], seed: int = 0,
                  ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> dict[str, str]:
    """Top-level module → ``train`` / ``dev`` / ``test``, by pairs close to ``ratios``.

    Modules are visited in the order of a salted hash of their names and each goes to the split furthest
    below its share of the pairs seen so far. A plain hash threshold would give each split ~its share of
    *modules*, but module sizes are very uneven (``tkinter`` alone is ~11% of the pairs), so the pair
    shares swing from 5% to 20% with the seed; filling by deficit keeps them near the ratios.
    """
    if len(ratios) != len(SPLITS) or abs(sum(ratios) - 1) > 1e-9 or min(ratios) <= 0:
        raise ValueError(f"ratios must be {len(SPLITS)} positive shares summing to 1, got {ratios}")

    def order(module: str) -> str:
        return hashlib.sha256(f"{NAME}:{seed}:{module}".encode()).hexdigest()

    assigned: dict[str, str] = {}
    filled = dict.fromkeys(SPLITS, 0)
    for module in sorted(sizes, key=order):
        total = sum(filled.values()) + sizes[module]
        split = max(SPLITS, key=lambda s: ratios[SPLITS.index(s)] * total - filled[s])
        assigned[module] = split
        filled[split] += sizes[module]
    return assigned


def iter_source_files(root: Path, modules: Iterable[str] | None = None) -> Iterator[tuple[str, Path]]:
    """``(dotted module name, path)`` for every library ``.py`` file under ``root``, sorted."""
    wanted = None if modules is None else set(modules)
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("config-")
                             and d.isidentifier())
        for name in sorted(filenames):
            if not name.endswith(".py") or name in SKIP_FILES or name.startswith(("test_", "_sysconfigdata")):
                continue
            parts = [*rel_dir.parts, name[:-3]]
            if parts[-1] == "__init__":
                parts.pop()
            if not parts or not all(p.isidentifier() for p in parts):
                continue
            if wanted is not None and parts[0] not in wanted:
                continue
            yield ".".join(parts), Path(dirpath) / name


def _first_paragraph(docstring: str) -> str:
    return " ".join(_PARAGRAPH.split(docstring.strip(), maxsplit=1)[0].split())


def _is_stub(body: Sequence[ast.stmt]) -> bool:
    if len(body) != 1:
        return False
    stmt = body[0]
    if isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and stmt.value.value is Ellipsis:
        return True
    if isinstance(stmt, ast.Raise) and stmt.exc is not None:
        exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


def _definitions(body: Sequence[ast.stmt], prefix: str) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Functions and methods at module/class level, also inside if/try/with blocks; not inside functions."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield f"{prefix}{node.name}", node
        elif isinstance(node, ast.ClassDef):
            yield from _definitions(node.body, f"{prefix}{node.name}.")
        elif isinstance(node, (ast.If, ast.For, ast.While, ast.With, ast.AsyncWith)):
            yield from _definitions([*node.body, *getattr(node, "orelse", [])], prefix)
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            handlers = [s for h in node.handlers for s in h.body]
            yield from _definitions([*node.body, *handlers, *node.orelse, *node.finalbody], prefix)


def extract_pairs(source: str, module: str, path: str = "", counts: Counter | None = None) -> list[Pair]:
    """Docstring/code pairs of one module's source (``counts`` tallies why functions were skipped)."""
    counts = counts if counts is not None else Counter()
    tree = ast.parse(source)
    lines = source.splitlines()
    pairs = []
    for qualname, node in _definitions(tree.body, ""):
        counts["functions"] += 1
        docstring = ast.get_docstring(node, clean=True)
        if not docstring:
            continue
        counts["with_docstring"] += 1
        query = _first_paragraph(docstring)
        if len(query.split()) < MIN_WORDS:
            counts["short_docstring"] += 1
            continue
        if _is_stub(node.body[1:]) or len(node.body) == 1:
            counts["stub_body"] += 1
            continue
        code = _code_without_docstring(node, lines)
        if code is None:
            counts["docstring_shares_a_line"] += 1
            continue
        pairs.append(Pair(module, qualname, path, node.lineno, query, code))
    return pairs


def _code_without_docstring(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> str | None:
    """The function's lines (decorators included) minus the docstring's, dedented by the def's indent."""
    doc = node.body[0]
    assert doc.end_lineno is not None and doc.end_col_offset is not None and node.end_lineno is not None
    # ast offsets count UTF-8 bytes, not characters
    before = lines[doc.lineno - 1].encode()[: doc.col_offset].decode(errors="replace").strip()
    after = lines[doc.end_lineno - 1].encode()[doc.end_col_offset :].decode(errors="replace").strip()
    if before or (after and not after.startswith("#")):
        return None  # the docstring shares a line with code (``def f(): "doc"`` or ``"doc"; x = 1``)
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    head = lines[start - 1 : doc.lineno - 1]
    tail = lines[doc.end_lineno : node.end_lineno]
    while tail and not tail[0].strip():
        tail = tail[1:]
    indent = lines[start - 1][: len(lines[start - 1]) - len(lines[start - 1].lstrip())]
    out = [line[len(indent) :] if line.startswith(indent) else line for line in (*head, *tail)]
    return "\n".join(line.rstrip() for line in out).strip("\n")


def collect_pairs(root: Path, modules: Iterable[str] | None = None,
                  counts: Counter | None = None) -> list[Pair]:
    """Every pair of every library file under ``root`` (files that do not parse are counted and skipped)."""
    counts = counts if counts is not None else Counter()
    pairs: list[Pair] = []
    for module, path in iter_source_files(root, modules):
        counts["files"] += 1
        try:
            with tokenize.open(path) as f:  # honours coding cookies
                source = f.read()
            pairs += extract_pairs(source, module, str(path.relative_to(root)), counts)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            counts["files_unparsable"] += 1
    return pairs


def deduplicate(pairs: list[Pair], counts: Counter | None = None) -> list[Pair]:
    """Drop every pair whose docstring, or whose code, occurs more than once (all copies, not all but one)."""
    counts = counts if counts is not None else Counter()

    def doc_key(p: Pair) -> str:
        return " ".join(p.query.lower().split())

    def code_key(p: Pair) -> str:
        return " ".join(p.code.split())

    docs, codes = Counter(map(doc_key, pairs)), Counter(map(code_key, pairs))
    kept = []
    for p in pairs:
        if docs[doc_key(p)] > 1:
            counts["duplicate_docstring"] += 1
        elif codes[code_key(p)] > 1:
            counts["duplicate_code"] += 1
        else:
            kept.append(p)
    return kept


def _ids(pairs: list[Pair]) -> list[str]:
    names = Counter(f"{p.module}.{p.qualname}" for p in pairs)
    return [f"{p.module}.{p.qualname}" + (f"@{p.lineno}" if names[f"{p.module}.{p.qualname}"] > 1 else "")
            for p in pairs]


def build_stdlib_code(out_dir: str | os.PathLike, seed: int = 0, modules: Iterable[str] | None = None,
                      root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Write the ``stdlib-code`` BEIR folder to ``out_dir`` and return its statistics.

    ``modules`` restricts the build to these top-level modules (for quick tests); ``root`` reads another
    standard library folder than the running interpreter's.
    """
    src = Path(root) if root is not None else stdlib_dir()
    if not src.is_dir():
        raise FileNotFoundError(f"no standard library folder at {src}")
    counts: Counter = Counter()
    pairs = deduplicate(collect_pairs(src, modules, counts), counts)
    if not pairs:
        raise ValueError(f"no docstring/function pairs found under {src} (modules={modules!r})")
    ids = _ids(pairs)
    module_split = assign_splits(dict(Counter(p.top_module for p in pairs)), seed)
    splits = [module_split[p.top_module] for p in pairs]

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    corpus_rows, query_rows = [], []
    qrels: dict[str, dict[str, dict[str, int]]] = {s: {} for s in SPLITS}
    for doc_id, p, split in zip(ids, pairs, splits, strict=True):
        meta = {"module": p.module, "qualname": p.qualname, "path": p.path, "lineno": p.lineno, "split": split}
        corpus_rows.append({"_id": doc_id, "title": "", "text": p.code, "language": "python", "modality": "code",
                            "metadata": meta})
        query_rows.append({"_id": f"q:{doc_id}", "text": p.query, "metadata": meta})
        qrels[split][f"q:{doc_id}"] = {doc_id: 1}
    write_jsonl(out / "corpus.jsonl", corpus_rows)
    write_jsonl(out / "queries.jsonl", query_rows)
    for split in SPLITS:
        write_qrels(out / "qrels" / f"{split}.tsv", qrels[split])
    write_jsonl(out / "train.jsonl", (
        {"query": p.query, "positives": [{"code": p.code, "language": "python"}], "negatives": []}
        for p, split in zip(pairs, splits, strict=True) if split == "train"
    ))

    stats: dict[str, Any] = {
        "name": NAME,
        "python": platform.python_version(),
        "stdlib": str(src),
        "seed": seed,
        "modules_filter": sorted(modules) if modules is not None else None,
        **{k: counts[k] for k in ("files", "files_unparsable", "functions", "with_docstring", "short_docstring",
                                  "stub_body", "docstring_shares_a_line", "duplicate_docstring", "duplicate_code")},
        "corpus": len(pairs),
        "pairs": {s: splits.count(s) for s in SPLITS},
        "top_modules": {s: len({p.top_module for p, x in zip(pairs, splits, strict=True) if x == s}) for s in SPLITS},
    }
    atomic_write_text(out / "stats.json", json.dumps(stats, indent=2) + "\n")
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: build the set and print its statistics as JSON."""
    parser = argparse.ArgumentParser(prog="python -m unret.datasets.stdlib_code", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", help="folder to write the BEIR data set to")
    parser.add_argument("--seed", type=int, default=0, help="salt of the hash that orders modules into splits")
    parser.add_argument("--modules", default=None, help="comma-separated top-level modules to restrict to")
    parser.add_argument("--stdlib", default=None, help="standard library folder (default: this Python's)")
    args = parser.parse_args(argv)
    modules = [m.strip() for m in args.modules.split(",") if m.strip()] if args.modules else None
    stats = build_stdlib_code(args.out_dir, seed=args.seed, modules=modules, root=args.stdlib)
    print(json.dumps(stats, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
