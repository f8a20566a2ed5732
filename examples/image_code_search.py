"""Search a folder of images and a source tree with one model: text → image, text → code, image → image.

Indexes every image and source file under ``--images`` and ``--code`` with Qwen2.5-VL (one embedding space
for both), answers text queries filtered by modality and image queries, saves the index, reloads it with
``UnifiedRetriever.load`` and checks that the reloaded index answers the same way::

    python examples/image_code_search.py --images ~/photos --code ~/src/project \\
        --query "a cat" --query "function that retries an HTTP request" --image-query ~/photos/cat.jpg

    python examples/image_code_search.py --offline      # CPU, no hub: a pipeline check

``--offline`` swaps in the tiny random Qwen2.5-VL checkpoint ``unret-testing/tiny-qwen2.5-vl`` (built
locally with the real Qwen2.5 tokenizer), the photographs that ship with scikit-image and a slice of
Python's standard library. The tiny model has random weights: it checks the pipeline end to end, and its
text → image / text → code rankings mean nothing. Image → image search still finds the query image itself
first, because an image query and an image document are embedded with the same prompt.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sysconfig
import time
from pathlib import Path

from unret import UnifiedRetriever
from unret.files import index_paths
from unret.items import IMAGE_EXTENSIONS

MODEL = "Qwen/Qwen2.5-VL-3B-Instruct"
TINY_MODEL = "unret-testing/tiny-qwen2.5-vl"
STDLIB_SLICE = ("json", "textwrap.py", "heapq.py", "shlex.py", "fnmatch.py", "colorsys.py")
OFFLINE_TEXT_QUERIES = ("a cat", "an astronaut in a space suit", "parse a JSON document")


def offline_images() -> list[Path]:
    """The photographs bundled inside scikit-image (plain files in the installed package, no download)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        raise SystemExit("--offline reads scikit-image's bundled photos: pip install scikit-image")
    folder = Path(spec.origin).parent / "data"
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)


def offline_code() -> list[Path]:
    """A few modules of the running Python's standard library, as a small real source tree."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return [stdlib / name for name in STDLIB_SLICE]


def show(title: str, hits) -> None:
    print(f"\n{title}")
    for rank, hit in enumerate(hits, 1):
        short = "/".join(Path(hit.id).parts[-2:])  # ids are the files' paths
        print(f"  {rank:2d}. {hit.score:6.3f}  {hit.modality:<5}  {short}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", nargs="+", default=[], help="image folders or files")
    parser.add_argument("--code", nargs="+", default=[], help="source folders or files")
    parser.add_argument("--query", action="append", default=[], help="a text query (repeatable)")
    parser.add_argument("--image-query", action="append", default=[], help="an image file as query (repeatable)")
    parser.add_argument("--model", default=None, help=f"model (default {MODEL}; {TINY_MODEL} with --offline)")
    parser.add_argument("--device", default=None, help="cuda, cpu, … (default: cuda if available)")
    parser.add_argument("--dtype", default=None, help="bfloat16 on GPU, float32 on CPU by default")
    parser.add_argument("--out", default="image_code_index", help="folder the index is saved to")
    parser.add_argument("-k", type=int, default=5, help="hits per query")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=None,
                        help="tokens per document; longer files are truncated (default: the model's, 8192)")
    parser.add_argument("--offline", action="store_true",
                        help="tiny random checkpoint + scikit-image photos + stdlib code: a CPU pipeline check")
    args = parser.parse_args(argv)

    if args.offline:
        args.model = args.model or TINY_MODEL
        args.images = args.images or offline_images()
        args.code = args.code or offline_code()
        args.query = args.query or list(OFFLINE_TEXT_QUERIES)
        if not args.image_query:  # scikit-image's cat (or the first image given)
            images = sorted((str(p) for p in args.images if Path(p).suffix.lower() in IMAGE_EXTENSIONS),
                            key=lambda p: Path(p).name != "chelsea.png")
            args.image_query = images[:1]
        args.device = args.device or "cpu"
        args.max_length = args.max_length or 512
        if args.model == TINY_MODEL:
            print(f"offline: {TINY_MODEL} has random weights — a pipeline check; text rankings below mean nothing.")
    if not args.images and not args.code:
        parser.error("give --images and/or --code (or --offline)")
    if not args.query and not args.image_query:
        print("no --query / --image-query given: indexing and saving only")
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.dtype is None:
        args.dtype = "bfloat16" if args.device.startswith("cuda") else "float32"

    # 1. Load the model: a hub name or a local folder (see docs/offline.md for air-gapped machines).
    t = time.perf_counter()
    options = {"max_length": args.max_length} if args.max_length else {}
    retriever = UnifiedRetriever.from_pretrained(args.model or MODEL, device=args.device, dtype=args.dtype, **options)
    print(f"model {args.model or MODEL}: dim {retriever.dim}, reads {sorted(retriever.modalities)} "
          f"({time.perf_counter() - t:.1f}s)")

    # 2. Index folders; unreadable files are skipped with a warning instead of aborting the run.
    t = time.perf_counter()
    report = index_paths(retriever, [*args.images, *args.code], batch_size=args.batch_size)
    print(f"indexed {report.new_files + report.changed_files} files ({len(report.added)} chunks), skipped "
          f"{len(report.skipped)}, ignored {report.ignored} of other types ({time.perf_counter() - t:.1f}s)")

    # 3. Text queries, filtered by modality: the same query against images only, then code only.
    for query in args.query:
        for modality in ("image", "code"):
            show(f"{query!r} → {modality}", retriever.search(query, k=args.k, modality=modality))

    # 4. Image queries: image → image search.
    image_hits = {q: retriever.search(Path(q), k=args.k, modality="image") for q in args.image_query}
    for query, hits in image_hits.items():
        show(f"[image {Path(query).name}] → image", hits)

    # 5. Save, reload and check the reloaded index answers exactly as before.
    retriever.save(args.out)
    reloaded = UnifiedRetriever.load(args.out, device=args.device, dtype=args.dtype)
    for query, hits in image_hits.items():
        again = reloaded.search(Path(query), k=args.k, modality="image")
        if [h.id for h in again] != [h.id for h in hits]:
            raise SystemExit(f"reloaded index answers {query} differently: {[h.id for h in again]}")
    summary = {
        "model": args.model or MODEL,
        "index": str(Path(args.out).resolve()),
        "documents": len(reloaded),
        "image_queries": {q: [h.id for h in hits] for q, hits in image_hits.items()},
    }
    print(f"\nsaved {len(reloaded)} documents to {args.out}; reloaded with UnifiedRetriever.load and checked.")
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
