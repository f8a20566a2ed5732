"""Functions, classes and methods of other languages from tree-sitter syntax trees.

Grammars come from the tree-sitter project's own per-language wheels (``tree-sitter-javascript``,
``tree-sitter-go``…), which bundle the compiled parser: they work offline, unlike bundles that download
grammars on first use. A language whose grammar is not installed falls back to windows of lines.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from unret.chunking.lines import Span

# language -> (module, function returning the grammar)
GRAMMARS: dict[str, tuple[str, str]] = {
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_tsx"),  # TSX is a superset: .ts and .tsx both parse
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "ruby": ("tree_sitter_ruby", "language"),
}
FUNCTIONS = frozenset({
    "function_declaration", "generator_function_declaration", "function_definition", "function_item",
    "method_declaration", "method_definition", "constructor_declaration", "method", "singleton_method",
    "macro_definition",
})
CONTAINERS = frozenset({
    "class_declaration", "abstract_class_declaration", "interface_declaration", "enum_declaration",
    "record_declaration", "class_specifier", "struct_specifier", "namespace_definition", "impl_item",
    "trait_item", "mod_item", "struct_item", "enum_item", "type_declaration", "class", "module",
    "internal_module",
})
WRAPPERS = frozenset({"export_statement", "template_declaration", "declaration", "lexical_declaration",
                      "expression_statement", "variable_declarator"})
_ARROWS = frozenset({"arrow_function", "function_expression", "function"})
_MAX_DEPTH = 4


@functools.cache
def _parser(language: str) -> Any | None:
    if language not in GRAMMARS:
        return None
    try:
        import tree_sitter

        module, attr = GRAMMARS[language]
        grammar = getattr(importlib.import_module(module), attr)()
        return tree_sitter.Parser(tree_sitter.Language(grammar))
    except (ImportError, AttributeError, ValueError):
        return None


def available_languages() -> list[str]:
    """Languages chunked by syntax here (their grammar wheels are installed); Python uses ``ast``."""
    return [lang for lang in GRAMMARS if _parser(lang) is not None]


def treesitter_spans(text: str, language: str, num_lines: int) -> list[Span] | None:
    """Top-level definitions of a source file; None when no grammar for ``language`` is installed."""
    parser = _parser(language)
    if parser is None:
        return None
    tree = parser.parse(text.encode("utf-8", "surrogatepass"))
    return _defs(tree.root_node, None, num_lines, 0)


def _defs(node: Any, owner: str | None, num_lines: int, depth: int) -> list[Span]:
    spans: list[Span] = []
    for child in node.named_children:
        inner = _definition(child, depth)
        if inner is None:
            if depth < _MAX_DEPTH and child.type not in WRAPPERS and child.named_child_count:
                spans.extend(_defs(child, owner, num_lines, depth + 1))  # bodies: class_body, declaration_list…
            continue
        start, end = child.start_point[0] + 1, min(child.end_point[0] + 1, num_lines)
        name = _name(inner)
        qualified = f"{owner}.{name}" if owner and name else name or owner
        if inner.type in CONTAINERS:
            spans.append(Span(start, end, "class", qualified,
                              children=tuple(_defs(inner, qualified, num_lines, depth + 1))))
        else:
            spans.append(Span(start, end, "method" if owner else "function", qualified))
    return spans


def _definition(node: Any, depth: int) -> Any | None:
    """The definition ``node`` is or wraps (``export function f``, ``const f = () => …``, ``template<…>``)."""
    if node.type in FUNCTIONS or node.type in CONTAINERS:
        return node
    if node.type in WRAPPERS and depth < _MAX_DEPTH:
        for child in node.named_children:
            if child.type in _ARROWS:
                return node
            found = _definition(child, depth + 1)
            if found is not None:
                return found
    return None


def _name(node: Any) -> str | None:
    for field in ("name", "type", "declarator"):
        child = node.child_by_field_name(field)
        while child is not None and child.type not in ("identifier", "type_identifier", "field_identifier",
                                                         "property_identifier", "constant", "qualified_identifier",
                                                         "destructor_name", "operator_name"):
            child = child.child_by_field_name("declarator") or child.child_by_field_name("name")
        if child is not None and child.text:
            return child.text.decode("utf-8", "replace")
    spec = node.named_children[0] if node.named_children else None  # Go: type_declaration > type_spec
    if spec is not None and spec.type.endswith("_spec"):
        return _name(spec)
    return None
