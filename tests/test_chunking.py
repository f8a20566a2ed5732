"""Chunking on real files: boundaries from Python's own parser, line ranges, budgets, overlap, truncation."""

from __future__ import annotations

import argparse
import ast
import itertools
import json.decoder
import re
import sysconfig
import textwrap
from pathlib import Path

import pytest

from unret.chunking import ChunkSettings, approximate_tokens, chunk_document
from unret.chunking.treesitter import available_languages

ROOT = Path(__file__).resolve().parents[1]


def _source(module) -> str:
    return Path(module.__file__).read_text(encoding="utf-8")


def _covered(chunks) -> list[int]:
    return sorted(n for c in chunks for n in range(c.start_line, c.end_line + 1))


def _check_exact_text(chunks, text: str) -> None:
    lines = text.splitlines()
    for c in chunks:
        assert c.text == "\n".join(lines[c.start_line - 1 : c.end_line])  # a chunk is exactly its line range


def test_each_def_of_json_decoder_is_one_chunk_with_its_line_range():
    text = _source(json.decoder)
    chunks = chunk_document(text, ChunkSettings(max_tokens=2000, count=approximate_tokens), "python")
    _check_exact_text(chunks, text)
    by_start = {c.start_line: c for c in chunks}
    tree = ast.parse(text)
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert len(defs) >= 5
    for node in defs:  # every top-level def: one chunk, from its first decorator to its last line
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        chunk = by_start[start]
        assert (chunk.end_line, chunk.name) == (node.end_lineno, node.name)
        assert chunk.kind == ("class" if isinstance(node, ast.ClassDef) else "function")
    # the module-level remainder (docstring, imports, constants) is kept too, and nothing is chunked twice
    lines = text.splitlines()
    covered = _covered(chunks)
    assert len(covered) == len(set(covered))
    assert {n for n, line in enumerate(lines, 1) if re.search(r"\w", line)} <= set(covered)
    assert chunks[0].kind == "module" and chunks[0].start_line == 1


def test_a_class_too_big_for_the_budget_is_split_into_its_methods():
    text = _source(argparse)
    settings = ChunkSettings(max_tokens=400, count=approximate_tokens)
    chunks = chunk_document(text, settings, "python")
    _check_exact_text(chunks, text)
    assert all(approximate_tokens(c.text) <= 400 + c.end_line - c.start_line + 1 or c.truncated for c in chunks)
    tree = ast.parse(text)
    parser_class = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "ArgumentParser")
    methods = {n.name: n for n in parser_class.body if isinstance(n, ast.FunctionDef)}
    starts: dict[str, int] = {}
    for c in chunks:  # a method too long for the budget is cut into windows: its first one starts at the def
        if c.kind == "method":
            starts.setdefault(c.name, c.start_line)
    for name in ("parse_known_args", "add_subparsers", "format_help", "error"):
        assert starts[f"ArgumentParser.{name}"] == methods[name].lineno
    covered = _covered(chunks)
    assert len(covered) == len(set(covered))  # no line in two chunks (overlap is 0)


def test_markdown_sections_follow_headings_outside_code_fences():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    chunks = chunk_document(text, ChunkSettings(max_tokens=300, count=approximate_tokens), None, ".md")
    lines = text.splitlines()
    fence, headings = False, {}
    for n, line in enumerate(lines, 1):  # an independent scan of the headings
        if line.startswith("```"):
            fence = not fence
        elif not fence and re.match(r"#{1,6} ", line):
            headings[n] = line.lstrip("#").strip()
    assert len(headings) >= 4
    section = None
    for c in chunks:  # each section starts a chunk named by its heading; long ones continue in windows
        if c.start_line in headings:
            section = headings[c.start_line]
        assert c.kind == "section" and c.name == section
    assert set(headings) <= {c.start_line for c in chunks}
    _check_exact_text(chunks, text)


def test_text_windows_fit_the_budget_and_overlap():
    text = "\n\n".join(textwrap.fill(p, 70) for p in (ast.__doc__ or "", json.decoder.__doc__ or "",
                                                      argparse.__doc__ or "") if p)
    budget, overlap = 60, 30
    chunks = chunk_document(text, ChunkSettings(max_tokens=budget, overlap=overlap, count=approximate_tokens), None,
                            ".txt")
    assert len(chunks) > 3
    line_cost = [approximate_tokens(line) + 1 for line in text.splitlines()]
    for a, b in itertools.pairwise(chunks):
        assert sum(line_cost[a.start_line - 1 : a.end_line]) <= budget
        shared = range(b.start_line, a.end_line + 1)
        assert len(shared) > 0 and sum(line_cost[n - 1] for n in shared) <= overlap
    assert chunks[0].start_line == 1 and chunks[-1].end_line == len(text.splitlines())


def test_a_line_over_budget_becomes_windows_of_its_characters_and_none_mode_flags_truncation():
    long_line = "x = [" + ", ".join(str(i) for i in range(400)) + "]"
    text = f"import os\n\n{long_line}\n\ndef f():\n    return os.sep\n"
    chunks = chunk_document(text, ChunkSettings(max_tokens=64, count=approximate_tokens), "python")
    windows = [c for c in chunks if c.start_line == 3]
    assert not any(c.truncated for c in chunks) and len(windows) > 1
    assert "".join(c.text for c in windows) == long_line  # every character, in order, once
    assert windows[0].start_col == 1 and windows[-1].end_col == len(long_line)
    assert all(long_line[c.start_col - 1 : c.end_col] == c.text for c in windows)
    assert all(approximate_tokens(c.text) <= 64 for c in windows)
    assert chunks[-1].kind == "function" and chunks[-1].name == "f"  # the rest is still parsed

    whole = chunk_document(text, ChunkSettings(mode="none", max_tokens=64, count=approximate_tokens), "python")
    assert len(whole) == 1 and whole[0].truncated and whole[0].text == text
    small = chunk_document("def f():\n    return 1\n", ChunkSettings(max_tokens=64), "python")
    assert len(small) == 1 and small[0].kind == "file" and not small[0].truncated


def test_a_truncated_file_reaches_the_model_cut_to_a_bounded_prefix():
    from unret.chunking import TRUNCATED_CHARS

    text = "rivers flow to the sea " * (TRUNCATED_CHARS // 8)
    (whole,) = chunk_document(text, ChunkSettings(mode="none", max_tokens=64, count=approximate_tokens))
    assert whole.truncated and whole.text == text[:TRUNCATED_CHARS] and whole.end_line == 1


def test_settings_are_validated():
    with pytest.raises(ValueError, match="chunking must be one of"):
        ChunkSettings(mode="functions")
    with pytest.raises(ValueError, match="overlap"):
        ChunkSettings(max_tokens=64, overlap=64)


JS = """import x from "y";

export function add(a, b) {
  return a + b;
}

class Stack {
  constructor() { this.items = []; }
  push(v) {
    this.items.push(v);
  }
}

const mul = (a, b) => a * b;
"""

GO = """package main

import "fmt"

func Add(a int, b int) int {
\treturn a + b
}

type Point struct {
\tX int
}

func (p Point) String() string {
\treturn fmt.Sprint(p.X)
}
"""


@pytest.mark.skipif(not {"javascript", "go"} <= set(available_languages()), reason="tree-sitter grammars missing")
@pytest.mark.parametrize(("language", "source", "expected"), [
    ("javascript", JS, [("module", None, 1, 1), ("function", "add", 3, 5), ("class", "Stack", 7, 12),
                        ("function", "mul", 14, 14)]),
    ("go", GO, [("module", None, 1, 3), ("function", "Add", 5, 7), ("class", "Point", 9, 11),
                ("function", "String", 13, 15)]),
])
def test_tree_sitter_definitions(language, source, expected):
    chunks = chunk_document(source, ChunkSettings(max_tokens=8, count=lambda s: 0), language)  # 1 token a line
    assert [(c.kind, c.name, c.start_line, c.end_line) for c in chunks] == expected


@pytest.mark.skipif("c" not in available_languages(), reason="tree-sitter C grammar missing")
def test_tree_sitter_on_real_c_headers():
    include = Path(sysconfig.get_path("include"))
    headers = sorted(include.glob("*.h"), key=lambda p: -p.stat().st_size)[:3] if include.is_dir() else []
    if not headers:
        pytest.skip("no Python C headers on this machine")
    for header in headers:
        text = header.read_text(encoding="utf-8", errors="replace")
        chunks = chunk_document(text, ChunkSettings(max_tokens=200, count=approximate_tokens), "c")
        _check_exact_text(chunks, text)
        covered = _covered(chunks)
        assert len(covered) == len(set(covered))
        assert all(approximate_tokens(c.text) <= 200 + (c.end_line - c.start_line + 1) or c.truncated for c in chunks)
