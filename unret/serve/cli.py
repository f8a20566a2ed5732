"""``unret serve INDEX_DIR``: load a saved index once and answer searches over HTTP until stopped.

One process holds the model and the index; FastAPI runs requests on a thread pool (concurrent searches,
one write at a time). ``--view --workers N`` starts N processes that each memory-map the same read-only
index (the vectors and HNSW graphs are shared through the page cache; each process loads the model).

Everything that can be checked without the model is checked first (the folder, the key, the address, the
port), and fails as one line through ``unret``'s error path with its exit code (docs/serve.md). A worker
that cannot load the index stops the whole server with that error instead of being restarted forever.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import pickle
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from unret.errors import ConfigError

_ENV = "UNRET_SERVE_CONFIG"
CONFIG_NAME = "unret_config.json"  # = unret.retriever.CONFIG_NAME, without importing torch first
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")  # uvicorn's


def port_number(text: str) -> int:
    """argparse type: a TCP port, 1–65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 1 and 65535, got {port}")
    return port


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``serve`` on the ``unret`` command's subparsers."""
    p = sub.add_parser("serve", help="serve an index over HTTP (search, OpenAI embeddings, a web page)",
                       epilog="Exit codes: 0 stopped, 1 failure (e.g. the port is in use), 2 bad option "
                              "(an empty API key, a host that does not resolve), 3 no index at INDEX, "
                              "5 damaged index, 6 model mismatch, 7 unknown model.")
    p.add_argument("index", help="index folder written by `unret index` or UnifiedRetriever.save")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=port_number, default=8000)
    p.add_argument("--api-key", default=os.environ.get("UNRET_API_KEY"),
                   help="key required for POST/DELETE /documents (default: $UNRET_API_KEY; none: no writes; "
                        "an empty key is refused)")
    p.add_argument("--auth-reads", action="store_true", help="require the API key for every request but /health")
    p.add_argument("--allowed-hosts", action="append", default=[], metavar="NAMES",
                   help="host names clients may use besides --host, localhost and IP addresses "
                        "(comma-separated, repeatable; .example.com allows its subdomains; * allows any)")
    p.add_argument("--view", action="store_true", help="memory-map the index read-only (no writes)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (more than 1 needs --view)")
    p.add_argument("--device", default=None, help="e.g. cuda, cpu")
    p.add_argument("--log-level", default="warning", type=str.lower, choices=LOG_LEVELS)
    p.set_defaults(func=run)
    return p


def app_from_env() -> Any:
    """The app for one worker process, configured by the parent through an environment variable.

    If loading fails, the error goes to the parent (``failure`` file) and the worker exits with uvicorn's
    startup-failure code, which stops the parent instead of restarting the worker forever."""
    from unret.serve.app import create_app
    from unret.serve.service import SearchService

    cfg = json.loads(os.environ[_ENV])
    try:
        service = SearchService.load(cfg["index"], view=cfg["view"], device=cfg["device"])
        return create_app(service, api_key=cfg["api_key"], auth_reads=cfg["auth_reads"],
                          allowed_hosts=cfg["allowed_hosts"])
    except Exception as exc:
        if not cfg.get("failure"):
            raise
        with contextlib.suppress(Exception):
            Path(cfg["failure"]).write_bytes(pickle.dumps(exc))
        with contextlib.suppress(OSError):
            os.kill(os.getppid(), signal.SIGTERM)  # older uvicorns restart a worker that failed to start
        sys.exit(3)  # uvicorn's STARTUP_FAILURE: the supervisor stops instead of restarting


def check_options(args: argparse.Namespace) -> list[str]:
    """Everything checkable before the model loads; returns the host names the Host check allows."""
    folder = Path(args.index).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"no index at {args.index} (the folder does not exist; create one with `unret index`)")
    if not (folder / CONFIG_NAME).is_file():
        raise FileNotFoundError(f"{args.index} is not an unret index (no {CONFIG_NAME}; create one with `unret index`)")
    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    if args.workers > 1 and not args.view:
        raise ConfigError("--workers > 1 needs --view (several writers would each hold a different index)")
    if args.api_key is not None and not args.api_key.strip():
        raise ConfigError("the API key is empty (--api-key '' or UNRET_API_KEY=''): an empty key would let anyone "
                          "write; give a key, or none at all (then the server accepts no writes)")
    if args.auth_reads and not args.api_key:
        raise ConfigError("--auth-reads needs --api-key")
    _check_address(args.host, args.port)
    return [args.host, *(name.strip() for names in args.allowed_hosts for name in names.split(",") if name.strip())]


def _check_address(host: str, port: int) -> None:
    """Resolve ``host`` and try binding ``host:port`` now, not after minutes of loading a model."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as e:
        raise ConfigError(f"--host {host!r} is not an address of this machine ({e.strerror})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as e:
            reason = "the port is in use" if e.errno == errno.EADDRINUSE else e.strerror
            raise OSError(e.errno, f"cannot listen on {host}:{port}: {reason}") from None


def run(args: argparse.Namespace) -> int:
    allowed_hosts = check_options(args)
    import uvicorn

    cfg = {"index": args.index, "view": args.view, "device": args.device, "api_key": args.api_key,
           "auth_reads": args.auth_reads, "allowed_hosts": allowed_hosts, "failure": None}
    if args.workers > 1:
        with tempfile.TemporaryDirectory(prefix="unret-serve-") as tmp:
            failure = Path(tmp) / "failure.pickle"
            os.environ[_ENV] = json.dumps({**cfg, "failure": str(failure)})
            uvicorn.run("unret.serve.cli:app_from_env", factory=True, host=args.host, port=args.port,
                        workers=args.workers, log_level=args.log_level)
            if failure.exists():
                raise _unpickled(failure.read_bytes())
        return 0
    os.environ[_ENV] = json.dumps(cfg)
    app = app_from_env()  # load before binding, so a bad folder fails fast and /health means ready
    print(f"serving {args.index} ({len(app.state.service.retriever)} items) on http://{args.host}:{args.port}",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _unpickled(data: bytes) -> BaseException:
    """The worker's error, to exit with its code; a RuntimeError if it does not survive pickling."""
    try:
        exc = pickle.loads(data)
    except Exception as e:
        return RuntimeError(f"a worker failed to start ({e})")
    return exc if isinstance(exc, BaseException) else RuntimeError("a worker failed to start")
