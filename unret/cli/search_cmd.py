"""``unret search``: one or many queries (arguments, a file or stdin) against an index, one model load."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from unret.cli.common import add_model_args, index_folder, key_value, pairs, positive_int, quiet
from unret.cli.errors import BAD_DATA, NOT_FOUND, UNKNOWN_MODEL, USAGE, CliError

MODALITY_CHOICES = ["text", "code", "image", "image+text", "video"]  # = unret.items.MODALITIES
PER_FILE_FETCH = 8  # hits fetched per file wanted, when grouping by file


def register(sub: argparse._SubParsersAction) -> None:
    search = sub.add_parser("search", help="search an index folder with one or more queries")
    search.add_argument("index", help="index folder written by `unret index`")
    search.add_argument("query", nargs="*", help="text queries, or image/code file paths (one model load for all)")
    search.add_argument("--queries-file", "-f", default=None, metavar="FILE",
                        help="read queries from FILE, one per line ('-' for stdin)")
    search.add_argument("-k", type=positive_int, default=10, help="number of hits (files with --per-file)")
    search.add_argument("--per-file", action="store_true", help="one hit per file: its best chunk")
    search.add_argument("--modality", action="append", choices=MODALITY_CHOICES,
                        help="only hits of this modality (repeatable)")
    search.add_argument("--where", action="append", type=key_value, default=[], metavar="KEY=VALUE",
                        help="only hits whose metadata has KEY=VALUE (repeatable)")
    search.add_argument("--task", default=None, help="named query instruction, e.g. nl2code")
    search.add_argument("--exact", action="store_true", help="brute-force search instead of HNSW")
    search.add_argument("--json", action="store_true", help="print hits as JSON")
    add_mode_args(search)
    add_model_args(search, dtype=False)
    search.add_argument("--quiet", action="store_true", help="no progress bars (model loading included)")
    search.set_defaults(func=run_search)


def search_mode(name: str) -> str:
    """An argparse type: a registered search mode (``unret.search.registry``), ``+rerank`` allowed."""
    from unret.search import check_mode

    try:
        return check_mode(name)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_mode_args(parser: argparse.ArgumentParser, repeatable: bool = False) -> None:
    """``--mode`` / ``--fusion`` / ``--alpha`` / ``--rerank`` / ``--rerank-depth``, shared by search and evaluate."""
    how = " (repeatable; default dense)" if repeatable else " (default dense)"
    parser.add_argument("--mode", type=search_mode, action="append" if repeatable else "store",
                        default=None if repeatable else "dense",
                        help="search mode: dense, lexical, hybrid or another registered mode, '+rerank' to "
                             "rerank its top hits with --rerank" + how)
    parser.add_argument("--fusion", default="rrf", choices=["rrf", "convex"], help="hybrid fusion (default rrf)")
    parser.add_argument("--alpha", type=float, default=0.5, help="weight of dense in convex fusion (default 0.5)")
    parser.add_argument("--rerank", default=None, metavar="MODEL",
                        help="cross-encoder package or Qwen reranker that re-scores the first stage's top hits")
    parser.add_argument("--rerank-depth", type=positive_int, default=100, metavar="N",
                        help="first-stage candidates the reranker scores (default 100)")


def read_queries(args: argparse.Namespace) -> list[str]:
    """The queries from the arguments and ``--queries-file``, checked before the model loads."""
    queries = list(args.query)
    if args.queries_file is not None:
        if args.queries_file == "-":
            text = sys.stdin.read()
        else:
            path = Path(args.queries_file).expanduser()
            if not path.is_file():
                raise CliError(f"no query file at {args.queries_file}", NOT_FOUND)
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise CliError(f"query file {args.queries_file} is not UTF-8 text", BAD_DATA) from None
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if not lines:
            raise CliError(f"no queries in {'stdin' if args.queries_file == '-' else args.queries_file}", USAGE)
        queries += lines
    if not queries:
        raise CliError("give a query, or --queries-file FILE ('-' for stdin)", USAGE)
    empty = [i for i, q in enumerate(queries, 1) if not q.strip()]
    if empty:
        raise CliError(f"query #{empty[0]} is empty; nothing to search for", USAGE)
    return queries


def run_search(args: argparse.Namespace) -> int:
    if args.quiet:
        quiet()
    folder = index_folder(args.index)
    queries = read_queries(args)
    from unret.retriever import UnifiedRetriever

    try:
        retriever = UnifiedRetriever.load(folder, view=True, device=args.device)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) and exc.filename and str(folder) in str(exc.filename):
            raise
        raise CliError(f"cannot load the model of {args.index}: {exc}", UNKNOWN_MODEL) from exc
    where = pairs(args.where) or None
    fetch = min(args.k * PER_FILE_FETCH, len(retriever)) if args.per_file else args.k
    rerank = None
    if args.rerank or args.mode.endswith("+rerank"):
        if not args.rerank:
            raise CliError(f"--mode {args.mode} needs --rerank MODEL", USAGE)
        from unret.rerank import load_reranker

        rerank = load_reranker(args.rerank, device=args.device)
    results = retriever.search(queries, k=max(fetch, 1), modality=args.modality, where=where, exact=args.exact,
                               task=args.task, mode=args.mode, fusion=args.fusion, alpha=args.alpha,
                               rerank=rerank, rerank_depth=args.rerank_depth)
    if args.per_file:
        results = [best_per_file(hits, args.k) for hits in results]
    if args.json:
        rows = [[hit_json(h) for h in hits] for hits in results]
        out: Any = rows[0] if len(queries) == 1 else [{"query": q, "hits": r} for q, r in zip(queries, rows,
                                                                                             strict=True)]
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    for query, hits in zip(queries, results, strict=True):
        if len(queries) > 1:
            print(f"── {query}")
        print_table(hits)
    return 0


def best_per_file(hits: list, k: int) -> list:
    """The first (best) hit of each file, ``k`` files at most."""
    seen: set[str] = set()
    out = []
    for hit in hits:
        source = hit.metadata.get("source", hit.id)
        if source not in seen:
            seen.add(source)
            out.append(hit)
            if len(out) == k:
                break
    return out


def hit_json(hit) -> dict[str, Any]:
    row: dict[str, Any] = {"id": hit.id, "score": hit.score, "modality": hit.modality}
    for key in ("source", "language", "start_line", "end_line", "name", "snippet"):
        if key in hit.metadata:
            row[key] = hit.metadata[key]
    row["metadata"] = hit.metadata
    return row


_SHOWN_ELSEWHERE = {"source", "snippet", "sha256", "size", "mtime_ns", "start_line", "end_line", "kind", "language",
                    "name"}


def print_table(hits: list) -> None:
    width = max([len(_where(h)) for h in hits] + [2])
    print(f"{'#':>3}  {'score':>7}  {'modality':<10}  {'id':<{width}}  details")
    for rank, h in enumerate(hits, 1):
        extra = {k: v for k, v in h.metadata.items() if k not in _SHOWN_ELSEWHERE}
        details = " ".join(x for x in (h.metadata.get("name"), json.dumps(extra, ensure_ascii=False) if extra else "")
                           if x)
        print(f"{rank:>3}  {h.score:>7.4f}  {h.modality:<10}  {_where(h):<{width}}  {details[:60]}")
        snippet = h.metadata.get("snippet")
        if snippet:
            print("\n".join(f"{'':>24}│ {line[:100]}" for line in snippet.splitlines()[:3]))
    if not hits:
        print("(no hits)")


def _where(hit) -> str:
    """``path:start-end`` for a chunk, the id otherwise."""
    meta = hit.metadata
    if "source" in meta and "start_line" in meta and hit.id != meta["source"]:
        return f"{meta['source']}:{meta['start_line']}-{meta['end_line']}"
    return hit.id
