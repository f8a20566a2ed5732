"""Load test of ``unret serve`` on loopback against in-process search: latency, throughput, errors.

Builds an index of real text (docstrings of the Python standard library, real all-MiniLM-L6-v2 vectors),
starts ``unret serve`` on 127.0.0.1, and sends a fixed number of ``POST /search`` requests from N
concurrent clients (each its own HTTP connection). The same queries run through
``UnifiedRetriever.search`` in process (one thread) as the baseline. Reports p50 / p99 latency, QPS,
the error count (anything but HTTP 200 — must be 0) and QPS relative to in-process search.

    python benchmarks/serve_bench.py                        # 1,000 docs, 200 requests per row, dense
    python benchmarks/serve_bench.py --mode hybrid --clients 1 4 16 --requests 400
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import os
import pkgutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from unret.items import Text
from unret.retriever import UnifiedRetriever

QUERIES = [
    "parse a json document", "retry an http request", "sort a list by a key", "remove duplicate lines",
    "compute a moving average", "read a csv file into rows", "escape html special characters",
    "create a temporary directory", "compress data with gzip", "format a date as a string",
    "split a path into directory and file name", "open a socket connection", "hash a password",
    "wait for a thread to finish", "copy a file preserving metadata", "parse command line arguments",
]


def stdlib_docs(limit: int) -> dict[str, str]:
    """``module.function`` → docstring, for public functions of importable standard-library modules."""
    docs: dict[str, str] = {}
    names = sorted(m.name for m in pkgutil.iter_modules() if not m.name.startswith("_"))
    stdlib = set(sys.stdlib_module_names)
    for name in names:
        if name not in stdlib or name in {"antigravity", "this", "idlelib", "turtledemo", "tkinter", "turtle"}:
            continue
        with contextlib.suppress(Exception):
            module = importlib.import_module(name)
            for attr, obj in vars(module).items():
                doc = inspect.getdoc(obj) if callable(obj) and not attr.startswith("_") else None
                if doc and len(doc) > 40:
                    docs[f"{name}.{attr}"] = doc[:1000]
                    if len(docs) >= limit:
                        return docs
    return docs


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index: Path, log: Path, timeout_s: float = 300) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-c", "import sys; from unret.cli import main; sys.exit(main())", "serve", str(index),
           "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"server did not start in {timeout_s} s")


def http_load(url: str, clients: int, requests: int, mode: str, k: int) -> tuple[list[float], int, float]:
    """``requests`` searches spread over ``clients`` threads; returns latencies (s), errors, wall time."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    counter = iter(range(requests))

    def client() -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            for i in counter:
                body = {"query": QUERIES[i % len(QUERIES)], "k": k, "mode": mode}
                t = time.perf_counter()
                try:
                    ok = http.post("/search", json=body).status_code == 200
                except httpx.HTTPError:
                    ok = False
                dt = time.perf_counter() - t
                with lock:
                    latencies.append(dt)
                    errors[0] += not ok

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors[0], time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="unret-offline/all-MiniLM-L6-v2")
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200, help="requests per row")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--mode", default="dense", choices=["dense", "lexical", "hybrid"])
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        docs = stdlib_docs(args.docs)
        r = UnifiedRetriever.from_pretrained(args.model)
        t = time.perf_counter()
        r.add([Text(d) for d in docs.values()], ids=list(docs), batch_size=32)
        r.save(tmp / "index")
        print(f"indexed {len(docs)} stdlib docstrings with {args.model} in {time.perf_counter() - t:.1f} s")

        local = UnifiedRetriever.load(tmp / "index")
        for q in QUERIES[:4]:  # warm up
            local.search(Text(q), k=args.k, mode=args.mode)
        lat = []
        t0 = time.perf_counter()
        for i in range(args.requests):
            t = time.perf_counter()
            local.search(Text(QUERIES[i % len(QUERIES)]), k=args.k, mode=args.mode)
            lat.append(time.perf_counter() - t)
        base_qps = args.requests / (time.perf_counter() - t0)
        rows = [("in-process search", 1, lat, 0, base_qps)]

        proc, url = start_server(tmp / "index", tmp / "server.log")
        try:
            http_load(url, 2, 8, args.mode, args.k)  # warm up
            for c in args.clients:
                lat, errors, wall = http_load(url, c, args.requests, args.mode, args.k)
                rows.append((f"HTTP /search, {c} client{'s' if c > 1 else ''}", c, lat, errors, args.requests / wall))
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    print(f"\nmode={args.mode}, k={args.k}, {args.requests} requests per row, {len(docs)} docs, "
          f"torch threads={os.environ.get('OMP_NUM_THREADS', 'default')}, {os.cpu_count()} CPUs\n")
    print("| setup | clients | p50 ms | p99 ms | QPS | errors | QPS / in-process |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for name, c, lat, errors, qps in rows:
        print(f"| {name} | {c} | {1000 * statistics.median(lat):.1f} | {1000 * percentile(lat, 99):.1f} | "
              f"{qps:.1f} | {errors} | {qps / base_qps:.2f} |")
    if any(row[3] for row in rows):
        raise SystemExit("errors during the load test")


if __name__ == "__main__":
    main()
