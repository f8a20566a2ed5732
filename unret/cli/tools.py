"""``unret demo``, ``mine``, ``evaluate``, ``datasets`` and the entries of Lightning's ``fit`` & co."""

from __future__ import annotations

import argparse
import json

from unret.cli.common import (
    MODEL_ARG_HELP,
    add_model_args,
    beir_folder,
    check_model,
    key_value,
    load_model,
    pairs,
    positive_int,
)
from unret.cli.search_cmd import add_mode_args

# Lightning's own subcommands, handed to LightningCLI by ``unret.cli.main`` (the one list of them).
LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")


def register_demo(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="index a small real mixed corpus and answer text/code/image queries")
    demo.add_argument("--model", default=None,
                      help="hub name or local folder (default: Qwen/Qwen2.5-VL-3B-Instruct if available locally, "
                           "else the offline preset all-MiniLM-L6-v2); 'tiny' runs the random pipeline check")
    demo.add_argument("-k", type=positive_int, default=3, help="hits shown per query")
    demo.add_argument("--device", default=None, help="e.g. cuda, cpu (default: cpu)")
    demo.set_defaults(func=_demo)


def register(sub: argparse._SubParsersAction) -> None:
    mine = sub.add_parser("mine", help="mine hard negatives (and teacher scores) into training JSONL")
    mine.add_argument("--model", required=True, help="retriever that mines the candidates")
    mine.add_argument("--data", required=True, help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    mine.add_argument("--split", default="train")
    mine.add_argument("--out", required=True, help="output JSONL")
    mine.add_argument("--num-negatives", type=positive_int, default=15)
    mine.add_argument("--teacher", default=None,
                      help="teacher: a retriever, or a reranker (CrossEncoder package, Qwen…Reranker); adds "
                           "teacher_scores for listwise distillation")
    mine.add_argument("--list-size", type=positive_int, default=20, help="candidates per query when a teacher scores")
    mine.add_argument("--max-score-ratio", type=float, default=0.95,
                      help="drop negatives scoring above this × the positive's score (0 disables)")
    mine.add_argument("--task", default=None)
    mine.add_argument("--batch-size", type=positive_int, default=32)
    add_model_args(mine)
    mine.add_argument("--model-arg", action="append", type=key_value, default=[], metavar="KEY=VALUE",
                      help=MODEL_ARG_HELP)
    mine.add_argument("--teacher-arg", action="append", type=key_value, default=[], metavar="KEY=VALUE",
                      help="like --model-arg, for the teacher")
    mine.set_defaults(func=_mine)

    from unret.paths import embeddings_cache_dir

    evaluate = sub.add_parser("evaluate", help="nDCG@10 / Recall / MRR on BEIR- or CoIR-format folders")
    evaluate.add_argument("--model", action="append", required=True,
                          help="hub name, local folder, unret-offline/… or 'bm25' (repeatable)")
    evaluate.add_argument("--data", action="append", required=True, help="BEIR folder (repeatable)")
    evaluate.add_argument("--split", default="test")
    evaluate.add_argument("--out", default=None, help="write results as JSON")
    evaluate.add_argument("-k", type=positive_int, default=100, help="retrieval depth")
    evaluate.add_argument("--task", default=None, help="named query instruction, e.g. nl2code")
    evaluate.add_argument("--batch-size", type=positive_int, default=16)
    evaluate.add_argument("--cache-dir", default=str(embeddings_cache_dir()),
                          help="corpus embedding cache (keyed by model and corpus fingerprints)")
    evaluate.add_argument("--no-cache", action="store_true")
    evaluate.add_argument("--hnsw", action="store_true", help="search with the usearch index, not exactly")
    add_mode_args(evaluate, repeatable=True)  # with --rerank: a first-stage row and a reranked row each
    add_model_args(evaluate)
    evaluate.add_argument("--model-arg", action="append", type=key_value, default=[], metavar="KEY=VALUE",
                          help=MODEL_ARG_HELP.replace("the model", "every model"))
    evaluate.set_defaults(func=_evaluate)

    datasets = sub.add_parser("datasets", help="build offline benchmark sets")
    datasets_sub = datasets.add_subparsers(dest="datasets_command", required=True)
    build = datasets_sub.add_parser("build", help="build a data set into a BEIR folder")
    build.add_argument("name", choices=["stdlib-code", "emoji"])
    build.add_argument("--out", required=True)
    build.set_defaults(func=_datasets)


def register_lightning(sub: argparse._SubParsersAction) -> None:
    """Listed in ``unret --help``; ``unret.cli.main`` hands these words to LightningCLI before parsing."""
    helps = {"fit": "train a retriever with Lightning: unret fit -c configs/contrastive.yaml (unret fit --help)",
             "validate": "Lightning's validate loop (unret validate --help)",
             "test": "Lightning's test loop (unret test --help)",
             "predict": "write embeddings with Lightning (unret predict --help)"}
    for name in LIGHTNING_COMMANDS:
        sub.add_parser(name, help=helps[name], add_help=False)


def _demo(args: argparse.Namespace) -> int:
    from unret.demo import run

    if args.model not in (None, "tiny"):
        check_model(args.model)
    run(model=args.model, device=args.device, k=args.k)
    return 0


def _mine(args: argparse.Namespace) -> int:
    beir_folder(args.data, args.split)
    for name in (args.model, args.teacher):
        if name:
            check_model(name)
    from unret.formats import load_beir
    from unret.training.mining import mine

    dataset = load_beir(args.data, args.split)
    retriever = load_model(args.model, device=args.device, dtype=args.dtype, **pairs(args.model_arg))
    teacher = None
    if args.teacher:
        from unret.training.mining import load_teacher

        teacher = load_teacher(args.teacher, device=args.device, dtype=args.dtype, **pairs(args.teacher_arg))
    n = mine(retriever, dataset, args.out, num_negatives=args.num_negatives, teacher=teacher,
             list_size=args.list_size, max_score_ratio=args.max_score_ratio or None, batch_size=args.batch_size,
             task=args.task)
    print(f"wrote {n} training records to {args.out}" + (" with teacher scores" if teacher else ""))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    for folder in args.data:
        beir_folder(folder, args.split)
    for name in [*args.model, *([args.rerank] if args.rerank else [])]:
        if name != "bm25":
            check_model(name)
    from unret.evaluation.evaluate import format_table, run_evaluate

    cache = None if args.no_cache else args.cache_dir
    results = run_evaluate(args.model, args.data, split=args.split, out_json=args.out, k=args.k,
                           batch_size=args.batch_size, cache_dir=cache, exact=not args.hnsw, task=args.task,
                           device=args.device, dtype=args.dtype, model_kwargs=pairs(args.model_arg),
                           modes=args.mode or ["dense"], fusion=args.fusion, alpha=args.alpha,
                           rerank=args.rerank, rerank_depth=args.rerank_depth)
    print(format_table(results))
    if args.out:
        print(f"\nresults written to {args.out}")
    return 0


def _datasets(args: argparse.Namespace) -> int:
    from unret.datasets import build

    stats = build(args.name, args.out)
    print(json.dumps(stats, indent=2))
    return 0
