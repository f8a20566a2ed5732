"""The ``unret`` console: ``demo``, ``index``, ``search``, ``mine``, ``evaluate``, ``datasets`` and Lightning's
``fit`` (``unret fit -c …``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

MODEL_ARG_HELP = ("passed to from_pretrained when loading the model, e.g. pretrained=laion2b_s34b_b79k, "
                  "max_pixels=401408, attn_implementation=sdpa (repeatable)")


def _demo(args: argparse.Namespace) -> int:
    from unret.demo import run

    run(model=args.model, device=args.device, k=args.k)
    return 0


def _index(args: argparse.Namespace) -> int:
    from unret.files import index_paths
    from unret.retriever import CONFIG_NAME, UnifiedRetriever

    out = Path(args.out)
    if (out / CONFIG_NAME).exists():
        retriever = UnifiedRetriever.load(out, device=args.device, dtype=args.dtype)
        if args.model and retriever.model_ref.get("name_or_path") != args.model:
            print(f"note: {out} already holds an index; adding with the model it was built with "
                  f"({retriever.model_ref.get('name_or_path')})", file=sys.stderr)
    else:
        if not args.model:
            print("error: --model is required to create a new index", file=sys.stderr)
            return 2
        retriever = UnifiedRetriever.from_pretrained(args.model, device=args.device, dtype=args.dtype,
                                                     **_parse_pairs(args.model_arg, "--model-arg"))
    try:
        report = index_paths(retriever, args.paths, batch_size=args.batch_size, show_progress=not args.quiet)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if report.added:
        retriever.save(out)
    print(f"indexed {len(report.added)} files into {out} ({len(retriever)} in total); "
          f"skipped {len(report.skipped)} unreadable, ignored {report.ignored} of unknown type")
    for source, reason in report.skipped:
        print(f"  skipped {source}: {reason}", file=sys.stderr)
    return 0


def _parse_pairs(pairs: list[str], option: str) -> dict[str, object]:
    """``KEY=VALUE`` options into a dict; values that parse as JSON (numbers, booleans, quoted strings) keep
    their type, anything else stays a string."""
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: {option} expects KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _parse_where(pairs: list[str]) -> dict[str, object] | None:
    return _parse_pairs(pairs, "--where") or None


def _search(args: argparse.Namespace) -> int:
    from unret.retriever import UnifiedRetriever

    retriever = UnifiedRetriever.load(args.index, view=True, device=args.device)
    hits = retriever.search(args.query, k=args.k, modality=args.modality, where=_parse_where(args.where),
                            exact=args.exact, task=args.task)
    if args.json:
        print(json.dumps([{"id": h.id, "score": h.score, "modality": h.modality, "metadata": h.metadata}
                          for h in hits], indent=2))
        return 0
    width = max([len(h.id) for h in hits] + [2])
    print(f"{'#':>3}  {'score':>7}  {'modality':<10}  {'id':<{width}}  metadata")
    for rank, h in enumerate(hits, 1):
        meta = json.dumps({k: v for k, v in h.metadata.items() if k != "source"}, ensure_ascii=False)
        print(f"{rank:>3}  {h.score:>7.4f}  {h.modality:<10}  {h.id:<{width}}  {meta[:60]}")
    if not hits:
        print("(no hits)")
    return 0


def _mine(args: argparse.Namespace) -> int:
    from unret.formats import load_beir
    from unret.retriever import UnifiedRetriever
    from unret.training.mining import mine

    dataset = load_beir(args.data, args.split)
    model_kwargs = _parse_pairs(args.model_arg, "--model-arg")
    retriever = UnifiedRetriever.from_pretrained(args.model, device=args.device, dtype=args.dtype, **model_kwargs)
    teacher = None
    if args.teacher:
        teacher = UnifiedRetriever.from_pretrained(args.teacher, device=args.device, dtype=args.dtype,
                                                   **_parse_pairs(args.teacher_arg, "--teacher-arg"))
    n = mine(retriever, dataset, args.out, num_negatives=args.num_negatives, teacher=teacher,
             list_size=args.list_size, max_score_ratio=args.max_score_ratio or None, batch_size=args.batch_size,
             task=args.task)
    print(f"wrote {n} training records to {args.out}" + (" with teacher scores" if teacher else ""))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from unret.evaluation.evaluate import format_table, run_evaluate

    cache = None if args.no_cache else args.cache_dir
    results = run_evaluate(args.model, args.data, split=args.split, out_json=args.out, k=args.k,
                           batch_size=args.batch_size, cache_dir=cache, exact=not args.hnsw, task=args.task,
                           device=args.device, dtype=args.dtype,
                           model_kwargs=_parse_pairs(args.model_arg, "--model-arg"), modes=args.mode or ["dense"],
                           fusion=args.fusion, alpha=args.alpha)
    print(format_table(results))
    if args.out:
        print(f"\nresults written to {args.out}")
    return 0


def _datasets(args: argparse.Namespace) -> int:
    from unret.datasets import build

    stats = build(args.name, args.out)
    print(json.dumps(stats, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unret", description="Unified multimodal dense retrieval.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="index a small real mixed corpus and answer text/code/image queries")
    demo.add_argument("--model", default=None,
                      help="hub name or local folder (default: Qwen/Qwen2.5-VL-3B-Instruct if available locally, "
                           "else the offline preset all-MiniLM-L6-v2); 'tiny' runs the random pipeline check")
    demo.add_argument("-k", type=int, default=3, help="hits shown per query")
    demo.add_argument("--device", default=None, help="e.g. cuda, cpu (default: cpu)")
    demo.set_defaults(func=_demo)

    index = sub.add_parser("index", help="index folders of images, code and text files")
    index.add_argument("paths", nargs="+", help="files or folders to index (walked recursively)")
    index.add_argument("--model", help="hub name or local folder (required for a new index)")
    index.add_argument("--out", required=True, help="index folder (created, or added to if it exists)")
    index.add_argument("--batch-size", type=int, default=8)
    index.add_argument("--device", default=None)
    index.add_argument("--dtype", default=None, help="e.g. bfloat16")
    index.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                        help=MODEL_ARG_HELP)
    index.add_argument("--quiet", action="store_true", help="no progress bar")
    index.set_defaults(func=_index)

    search = sub.add_parser("search", help="search an index folder")
    search.add_argument("index", help="index folder written by `unret index`")
    search.add_argument("query", help="a text query, or an image/code file path")
    search.add_argument("-k", type=int, default=10, help="number of hits")
    search.add_argument("--modality", action="append", choices=["text", "code", "image", "image+text"],
                        help="only hits of this modality (repeatable)")
    search.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                        help="only hits whose metadata has KEY=VALUE (repeatable)")
    search.add_argument("--task", default=None, help="named query instruction, e.g. nl2code")
    search.add_argument("--exact", action="store_true", help="brute-force search instead of HNSW")
    search.add_argument("--json", action="store_true", help="print hits as JSON")
    search.add_argument("--device", default=None)
    search.set_defaults(func=_search)

    mine = sub.add_parser("mine", help="mine hard negatives (and teacher scores) into training JSONL")
    mine.add_argument("--model", required=True, help="retriever that mines the candidates")
    mine.add_argument("--data", required=True, help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    mine.add_argument("--split", default="train")
    mine.add_argument("--out", required=True, help="output JSONL")
    mine.add_argument("--num-negatives", type=int, default=15)
    mine.add_argument("--teacher", default=None, help="teacher retriever: adds teacher_scores for distillation")
    mine.add_argument("--list-size", type=int, default=20, help="candidates per query when a teacher scores")
    mine.add_argument("--max-score-ratio", type=float, default=0.95,
                      help="drop negatives scoring above this × the positive's score (0 disables)")
    mine.add_argument("--task", default=None)
    mine.add_argument("--batch-size", type=int, default=32)
    mine.add_argument("--device", default=None)
    mine.add_argument("--dtype", default=None)
    mine.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                        help=MODEL_ARG_HELP)
    mine.add_argument("--teacher-arg", action="append", default=[], metavar="KEY=VALUE",
                      help="like --model-arg, for the teacher")
    mine.set_defaults(func=_mine)

    from unret.paths import embeddings_cache_dir

    evaluate = sub.add_parser("evaluate", help="nDCG@10 / Recall / MRR on BEIR- or CoIR-format folders")
    evaluate.add_argument("--model", action="append", required=True,
                          help="hub name, local folder, unret-offline/… or 'bm25' (repeatable)")
    evaluate.add_argument("--data", action="append", required=True, help="BEIR folder (repeatable)")
    evaluate.add_argument("--split", default="test")
    evaluate.add_argument("--out", default=None, help="write results as JSON")
    evaluate.add_argument("-k", type=int, default=100, help="retrieval depth")
    evaluate.add_argument("--task", default=None, help="named query instruction, e.g. nl2code")
    evaluate.add_argument("--batch-size", type=int, default=16)
    evaluate.add_argument("--cache-dir", default=str(embeddings_cache_dir()),
                          help="corpus embedding cache (keyed by model and corpus fingerprints)")
    evaluate.add_argument("--no-cache", action="store_true")
    evaluate.add_argument("--hnsw", action="store_true", help="search with the usearch index, not exactly")
    evaluate.add_argument("--mode", action="append", choices=["dense", "lexical", "hybrid"],
                          help="retriever for each model (repeatable; default dense; bm25 is always lexical)")
    evaluate.add_argument("--fusion", default="rrf", choices=["rrf", "convex"], help="hybrid fusion (default rrf)")
    evaluate.add_argument("--alpha", type=float, default=0.5, help="weight of dense in convex fusion (default 0.5)")
    evaluate.add_argument("--device", default=None)
    evaluate.add_argument("--dtype", default=None)
    evaluate.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                        help=MODEL_ARG_HELP.replace("the model", "every model"))
    evaluate.set_defaults(func=_evaluate)

    datasets = sub.add_parser("datasets", help="build offline benchmark sets")
    datasets_sub = datasets.add_subparsers(dest="datasets_command", required=True)
    build = datasets_sub.add_parser("build", help="build a data set into a BEIR folder")
    build.add_argument("name", choices=["stdlib-code", "emoji"])
    build.add_argument("--out", required=True)
    build.set_defaults(func=_datasets)

    from unret.serve.cli import add_parser as add_serve

    add_serve(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] in ("fit", "validate", "test", "predict"):  # Lightning's own subcommands
        from unret.training.cli import main as lightning_main

        lightning_main(argv)
        return 0
    args = build_parser().parse_args(words)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
