"""Vector store benchmark: the embedded usearch store against Milvus (milvus-lite, FLAT and HNSW), in one run.

Per store: add throughput (100k vectors in batches of 10k, Milvus flushed as ``save`` does); single-query
latency p50/p99 at k=10, with no filter, with a modality filter (``code``: 1 item in 3, a scalar field in
Milvus) and with ``where={"tag": "t1"}`` added (1 item in 12, a JSON field in Milvus); recall@10 of the
unfiltered queries against exact numpy search; memory, the process's RSS growth from opening the store to
the end (milvus-lite runs inside the process, so its memory is counted there). Each store runs in a fresh
subprocess, so one store's memory cannot hide in another's. Ratios are to usearch. Data is embedding-like
(``normalise(Z @ W + noise)``, rank-32 latent, as in index_bench.py); ``--minilm N`` uses N real
all-MiniLM-L6-v2 embeddings of stdlib source lines instead.

    OMP_NUM_THREADS=1 python benchmarks/store_bench.py                 # 100k × 384
    OMP_NUM_THREADS=1 python benchmarks/store_bench.py --n 20000       # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import psutil
from index_bench import lowrank, minilm  # the sibling script: one definition of the data

STORES = {"usearch": None, "milvus-lite FLAT": "FLAT", "milvus-lite HNSW": "HNSW"}
MODS = ("text", "code", "image")


def data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    if args.minilm:
        x = minilm(args.minilm + args.queries, args.cache)
        return x[: args.minilm], x[args.minilm:]
    return lowrank(args.n, args.dim, 32, 0.3, seed=0), lowrank(args.queries, args.dim, 32, 0.3, seed=1)


def rss() -> int:
    return psutil.Process().memory_info().rss


def latencies(fn, queries: np.ndarray) -> tuple[list, np.ndarray]:
    out, times = [], []
    for qi in queries:
        start = time.perf_counter()
        out.append(fn(qi))
        times.append(time.perf_counter() - start)
    return out, np.array(times) * 1e3


def worker(name: str, args: argparse.Namespace) -> dict:
    import pymilvus  # noqa: F401  (imported before the baseline: library code is not the store's memory)

    from unret.store.registry import open_store

    x, q = data(args)
    n = len(x)
    ids = [str(i) for i in range(n)]
    mods = [MODS[i % 3] for i in range(n)]
    meta = [{"i": i, "tag": f"t{i % 4}"} for i in range(n)]
    folder = tempfile.mkdtemp(prefix="store_bench_")
    try:
        base = rss()
        index = STORES[name]
        spec = None if index is None else f"milvus+lite://{folder}/bench.db?collection=bench"
        store = open_store(spec, x.shape[1], None, **({} if index is None else {"index": index}))
        start = time.perf_counter()
        for s in range(0, n, 10_000):
            store.add(ids[s:s + 10_000], x[s:s + 10_000], mods[s:s + 10_000], meta[s:s + 10_000])
        if index is not None:
            store.client.flush(store.target.collection)
        add_s = time.perf_counter() - start
        if index is not None:  # serve what a reopened index serves: milvus-lite searches rows added since the
            # collection was loaded without their index (1 s vs 85 ms per query at 100k HNSW) until reloaded
            store.client.release_collection(store.target.collection)
            store.client.load_collection(store.target.collection)
        for qi in q[:10]:  # warm-up: milvus-lite builds and loads its index segments on first search
            store.search(qi, k=args.k)
        found, plain = latencies(lambda qi: store.search(qi, k=args.k)[0], q)
        _, by_modality = latencies(lambda qi: store.search(qi, k=args.k, modality="code")[0], q)
        _, filtered = latencies(lambda qi: store.search(qi, k=args.k, modality="code", where={"tag": "t1"})[0],
                                q[: args.filtered])
        truth = np.argsort(-(q @ x.T), axis=1)[:, : args.k]
        recall = np.mean([len({int(h.id) for h in f} & set(t.tolist())) / args.k
                          for f, t in zip(found, truth, strict=True)])
        grown = rss() - base
        if hasattr(store, "close"):  # VectorIndex.close arrives with the DocumentStore work
            store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"store": name, "n": n, "add_per_s": n / add_s, "p50": float(np.percentile(plain, 50)),
            "p99": float(np.percentile(plain, 99)), "m_p50": float(np.percentile(by_modality, 50)),
            "m_p99": float(np.percentile(by_modality, 99)), "f_p50": float(np.percentile(filtered, 50)),
            "f_p99": float(np.percentile(filtered, 99)), "recall": float(recall), "rss_mib": grown / 2**20,
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def table(rows: list[dict]) -> str:
    ref = rows[0]
    lines = ["| store | add (vectors/s) | p50 ms | p99 ms | modality p50 ms | modality p99 ms | "
             "modality + where p50 ms | modality + where p99 ms | recall@10 | memory (RSS growth) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        def cell(key: str, fmt: str, r: dict = r) -> str:
            ratio = "" if r is ref else f" ({r[key] / ref[key]:.2g}×)"
            return f"{r[key]:{fmt}}{ratio}"
        lines.append(f"| {r['store']} | {cell('add_per_s', ',.0f')} | {cell('p50', '.2f')} | {cell('p99', '.2f')} | "
                     f"{cell('m_p50', '.2f')} | {cell('m_p99', '.2f')} | {cell('f_p50', '.2f')} | "
                     f"{cell('f_p99', '.2f')} | {r['recall']:.4f} | "
                     f"{cell('rss_mib', ',.0f')} MiB |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--queries", type=int, default=100, help="single queries timed per store (and filtered)")
    p.add_argument("--filtered", type=int, default=10,
                   help="of those, how many also run with a metadata where (milvus-lite scans JSON: slow)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--minilm", type=int, default=0, metavar="N", help="use N real MiniLM embeddings instead")
    p.add_argument("--cache", help=".npy file caching the MiniLM embeddings")
    p.add_argument("--stores", nargs="+", default=list(STORES), choices=list(STORES))
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args)))
        return
    rows = []
    for name in args.stores:
        cmd = [sys.executable, __file__, "--worker", name, *sys.argv[1:]]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(f"{name}: {rows[-1]}", file=sys.stderr)
    print(f"{rows[0]['n']:,} vectors × {args.dim}, k={args.k}, {args.queries} single queries each "
          f"({args.filtered} with the where)")
    print(table(rows))


if __name__ == "__main__":
    main()
