"""``unret serve INDEX_DIR``: load a saved index once and answer searches over HTTP until stopped.

One process holds the model and the index; FastAPI runs requests on a thread pool (concurrent searches,
one write at a time). ``--view --workers N`` starts N processes that each memory-map the same read-only
index (the vectors and HNSW graphs are shared through the page cache; each process loads the model).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

_ENV = "UNRET_SERVE_CONFIG"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``serve`` on the ``unret`` command's subparsers."""
    p = sub.add_parser("serve", help="serve an index over HTTP (search, OpenAI embeddings, a web page)")
    p.add_argument("index", help="index folder written by `unret index` or UnifiedRetriever.save")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key", default=os.environ.get("UNRET_API_KEY"),
                   help="key required for POST/DELETE /documents (default: $UNRET_API_KEY; none: no writes)")
    p.add_argument("--auth-reads", action="store_true", help="require the API key for every request but /health")
    p.add_argument("--view", action="store_true", help="memory-map the index read-only (no writes)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (more than 1 needs --view)")
    p.add_argument("--device", default=None, help="e.g. cuda, cpu")
    p.add_argument("--log-level", default="warning")
    p.set_defaults(func=run)
    return p


def app_from_env() -> Any:
    """The app for one worker process, configured by the parent through an environment variable."""
    from unret.serve.app import create_app
    from unret.serve.service import SearchService

    cfg = json.loads(os.environ[_ENV])
    service = SearchService.load(cfg["index"], view=cfg["view"], device=cfg["device"])
    return create_app(service, api_key=cfg["api_key"], auth_reads=cfg["auth_reads"])


def run(args: argparse.Namespace) -> int:
    import uvicorn

    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers > 1 and not args.view:
        print("error: --workers > 1 needs --view (several writers would each hold a different index)",
              file=sys.stderr)
        return 2
    if args.auth_reads and not args.api_key:
        print("error: --auth-reads needs --api-key", file=sys.stderr)
        return 2
    os.environ[_ENV] = json.dumps({"index": args.index, "view": args.view, "device": args.device,
                                   "api_key": args.api_key, "auth_reads": args.auth_reads})
    if args.workers > 1:
        uvicorn.run("unret.serve.cli:app_from_env", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level=args.log_level)
        return 0
    app = app_from_env()  # load before binding, so a bad folder fails fast and /health means ready
    print(f"serving {args.index} ({len(app.state.service.retriever)} items) on http://{args.host}:{args.port}",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
