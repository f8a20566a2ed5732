"""Python source into functions, classes and methods with Python's own parser (``ast``)."""

from __future__ import annotations

import ast
import warnings

from unret.chunking.lines import Span

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def python_spans(text: str, num_lines: int) -> list[Span] | None:
    """Top-level defs of a module (classes carry their methods as children); None when it does not parse."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning for invalid escapes in old code
            tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return _defs(tree.body, None, num_lines)


def _defs(body: list[ast.stmt], owner: str | None, num_lines: int) -> list[Span]:
    spans = []
    for node in body:
        if not isinstance(node, _DEFS) or node.end_lineno is None:
            continue
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        name = f"{owner}.{node.name}" if owner else node.name
        if isinstance(node, ast.ClassDef):
            spans.append(Span(start, min(node.end_lineno, num_lines), "class", name,
                              children=tuple(_defs(node.body, name, num_lines))))
        else:
            spans.append(Span(start, min(node.end_lineno, num_lines), "method" if owner else "function", name))
    return spans
