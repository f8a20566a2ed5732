"""``unret index`` (chunked, incremental, interruptible), ``unret info`` and ``unret remove``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from unret.cli.common import (
    CONFIG_NAME,
    MODEL_ARG_HELP,
    add_model_args,
    check_same_model,
    index_config,
    index_folder,
    key_value,
    load_model,
    non_negative_float,
    pairs,
    positive_int,
    quiet,
    save_index,
)
from unret.cli.errors import INTERRUPTED, NOT_FOUND, USAGE, CliError


def register(sub: argparse._SubParsersAction) -> None:
    index = sub.add_parser("index", help="index folders of images, code and text files (chunked, incremental)")
    index.add_argument("paths", nargs="+", help="files or folders to index (walked recursively)")
    index.add_argument("--model", help="hub name or local folder (required for a new index; for an existing "
                                       "one it must be the model the index was built with)")
    index.add_argument("--out", required=True, help="index folder (created, or updated if it exists)")
    index.add_argument("--chunking", choices=["auto", "none"], default="auto",
                       help="auto: code into functions/classes/methods, Markdown into sections, text into "
                            "passages; none: one vector per file (cut at the model's max length)")
    index.add_argument("--chunk-size", type=positive_int, default=None,
                       help="tokens per chunk (default: the model's max length less the prompt, at most 512)")
    index.add_argument("--chunk-overlap", type=int, default=0, help="tokens shared by consecutive windows")
    index.add_argument("--sync", action="store_true",
                       help="also remove indexed files under PATHS that no longer exist")
    index.add_argument("--save-every", type=non_negative_float, default=60.0, metavar="SECONDS",
                       help="save progress at most this often while indexing (Ctrl-C keeps what was saved "
                            "and what finished since)")
    index.add_argument("--commit-every", type=positive_int, default=128, metavar="ITEMS",
                       help="items embedded between two commits to the index (the unit Ctrl-C keeps)")
    index.add_argument("--batch-size", type=positive_int, default=8)
    index.add_argument("--store", default=None, metavar="SPEC",
                       help="vector store of a new index: usearch (default, files in the index folder) or a URI "
                            "such as milvus://host:19530/collection; an existing index keeps its own")
    add_model_args(index)
    index.add_argument("--model-arg", action="append", type=key_value, default=[], metavar="KEY=VALUE",
                       help=MODEL_ARG_HELP)
    index.add_argument("--quiet", action="store_true", help="no progress bars (model loading included)")
    index.set_defaults(func=run_index)

    info = sub.add_parser("info", help="what an index holds: items per modality, files, model, size, last update")
    info.add_argument("index", help="index folder")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=run_info)

    remove = sub.add_parser("remove", help="remove files (all their chunks), folders or ids from an index")
    remove.add_argument("index", help="index folder")
    remove.add_argument("targets", nargs="+", help="ids, or file / folder paths (as indexed)")
    remove.set_defaults(func=run_remove)


def run_index(args: argparse.Namespace) -> int:
    if args.quiet:
        quiet()
    missing = [p for p in args.paths if not Path(p).expanduser().exists()]
    if missing:
        raise CliError(f"no such file or folder: {missing[0]}", NOT_FOUND)
    out = Path(args.out).expanduser()
    from unret.store.writer_lock import RUN_WAIT_S, writing

    with writing(out, RUN_WAIT_S):  # one writer per folder, for the whole run: a second one fails here
        return _index_locked(args, out)


def _index_locked(args: argparse.Namespace, out: Path) -> int:
    from unret.files import chunk_settings, index_paths
    from unret.store.commit import recover

    recover(out)  # before asking whether --out is an index: a killed save may have left it aside

    if (out / CONFIG_NAME).is_file():
        check_same_model(out, args.model)
        from unret.retriever import UnifiedRetriever

        retriever = UnifiedRetriever.load(out, device=args.device, dtype=args.dtype)
    else:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise CliError(f"--out {args.out} exists and is not an unret index; choose an empty or new folder")
        if not args.model:
            raise CliError("--model is required to create a new index", USAGE)
        retriever = load_model(args.model, device=args.device, dtype=args.dtype, store=args.store,
                               **pairs(args.model_arg))
    try:
        settings = chunk_settings(retriever, args.chunking, args.chunk_size, args.chunk_overlap)
    except ValueError as exc:
        raise CliError(str(exc), USAGE) from None
    model_max = getattr(retriever.backbone, "max_length", None)
    if model_max and settings.max_tokens > model_max:
        print(f"warning: --chunk-size {settings.max_tokens} exceeds the model's max length ({model_max} tokens); "
              "longer chunks are truncated", file=sys.stderr)
    def save() -> None:
        save_index(lambda: retriever.save(out), out)

    report = index_paths(retriever, args.paths, batch_size=args.batch_size, show_progress=not args.quiet,
                         settings=settings, sync=args.sync, checkpoint=save,
                         save_every=args.save_every, group_items=args.commit_every)
    files = report.new_files + report.changed_files
    if retriever.store is not None and (report.added or report.removed or not (out / CONFIG_NAME).exists()):
        save()
    if report.interrupted:
        print(f"interrupted: saved {plural(len(report.added), 'item')} from {plural(files, 'file')} to {out} "
              f"({len(retriever)} in total); run the same command again to index the rest", file=sys.stderr)
        return INTERRUPTED
    print(f"indexed {plural(files, 'file')} ({plural(len(report.added), 'item')}) into {out} "
          f"({len(retriever)} in total); {report.unchanged_files} unchanged, "
          f"{plural(report.deleted_files, 'deleted file')} removed; skipped {len(report.skipped)} unreadable, "
          f"{report.empty_files} empty, ignored {report.ignored} of unknown type")
    if report.missing_files:
        print(f"note: {plural(report.missing_files, 'indexed file')} under {' '.join(args.paths)} no longer "
              f"{'exists' if report.missing_files == 1 else 'exist'}; run with --sync to remove "
              f"{'it' if report.missing_files == 1 else 'them'} from the index", file=sys.stderr)
    if report.unsupported:
        print(f"note: {report.unsupported} image or video files not indexed: the model reads "
              f"{'/'.join(sorted(retriever.modalities))} only", file=sys.stderr)
    for source, reason in report.skipped:
        print(f"  skipped {source}: {reason}", file=sys.stderr)
    if report.truncated:
        advice = "a smaller --chunk-size" if settings.mode == "auto" else "--chunking auto or a smaller --chunk-size"
        n = len(report.truncated)
        print(f"warning: {plural(n, 'item')} {'exceeds' if n == 1 else 'exceed'} the model's max length and "
              f"{'was' if n == 1 else 'were'} truncated "
              f"(first: {report.truncated[0]}); use {advice}", file=sys.stderr)
    return 0


def plural(n: int, noun: str) -> str:
    """``1 file``, ``2 files``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _load_store(folder: Path, view: bool, lexical: bool = True):
    from unret.store import DocumentStore

    return DocumentStore.load(folder, view=view, lexical=lexical)


def run_info(args: argparse.Namespace) -> int:
    folder = index_folder(args.index)
    config = index_config(folder)
    index = _load_store(folder, view=True, lexical=False)
    modalities = index.modality_counts()
    by_file = index.sources()
    n_files = len(by_file) + len(index) - sum(len(e["ids"]) for e in by_file.values())  # an id without a file: 1
    files = [f for f in folder.rglob("*") if f.is_file()]
    updated = max(f.stat().st_mtime for f in files)
    model = config.get("model") or {}
    info = {
        "index": str(folder), "items": len(index), "files": n_files,
        "modalities": dict(sorted(modalities.items())),
        "model": model.get("name_or_path"), "backbone": (config.get("backbone") or {}).get("kind"),
        "dim": index.dim, "store": index.spec.get("uri") or index.spec.get("kind"),
        "bytes": sum(f.stat().st_size for f in files),
        "updated": dt.datetime.fromtimestamp(updated, dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"index     {info['index']}\nitems     {info['items']} from {info['files']} files "
          f"({', '.join(f'{m} {n}' for m, n in info['modalities'].items()) or 'empty'})\n"
          f"model     {info['model']} ({info['backbone']}, {info['dim']} dims)\n"
          f"store     {info['store']}\n"
          f"size      {info['bytes'] / 2**20:.1f} MiB\nupdated   {info['updated']}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from unret.files import remove_sources
    from unret.store.writer_lock import RUN_WAIT_S, writing

    blank = [t for t in args.targets if not t.strip()]
    if blank:  # "" resolves to the working folder: it would remove everything indexed under it
        raise CliError(f"empty remove target {blank[0]!r}: give an id, or a file or folder path", USAGE)
    folder = index_folder(args.index)
    with writing(folder, RUN_WAIT_S):  # held from the read to the save: no other writer's change is lost
        config = index_config(folder)
        index = _load_store(folder, view=False)
        _, missing = remove_sources(index, args.targets, dry_run=True)  # nothing removed unless all are found
        if missing:
            raise CliError(f"not in the index: {', '.join(missing)} (give ids, or file/folder paths as indexed)",
                           NOT_FOUND)
        removed, _ = remove_sources(index, args.targets)
        # vectors and texts together: the lexical side never keeps removed ids
        save_index(lambda: index.save(folder, config), folder)
    print(f"removed {plural(removed, 'item')} from {folder} ({len(index)} left)")
    return 0
