"""A real ``unret serve`` process on loopback over a small mixed index (tiny Qwen2.5-VL: text, code, images)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import random_image
from unret import Code, UnifiedRetriever
from unret.items import Text

REPO = Path(__file__).resolve().parents[2]
API_KEY = "test-key-123"
START_TIMEOUT_S = 240  # a cold import of torch + transformers on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``unret serve`` in a subprocess; ``url`` is its base URL, ``log`` its output file."""

    def __init__(self, index_dir: Path, log: Path, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        cmd = [sys.executable, "-c", "import sys; from unret.cli import main; sys.exit(main())", "serve",
               str(index_dir), "--host", "127.0.0.1", "--port", str(self.port), *args]
        self._out = log.open("w")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._out, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                pytest.fail(f"unret serve exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.5)
        self.stop()
        pytest.fail(f"unret serve did not answer /health within {START_TIMEOUT_S} s:\n{self.log.read_text()[-3000:]}")

    def alive(self) -> bool:
        return self.proc.poll() is None and httpx.get(f"{self.url}/health", timeout=10).json() == {"status": "ok"}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._out.close()


def build_index(root: Path, model_path: Path) -> tuple[Path, dict]:
    """A saved index of texts, code and two image files (ids are short names)."""
    files = root / "files"
    files.mkdir(parents=True)
    random_image(96, 64, seed=11).save(files / "red.png")
    random_image(64, 80, seed=12).save(files / "blue.jpg")
    r = UnifiedRetriever.from_pretrained(model_path)
    docs = {
        "paris": Text("Paris is the capital and largest city of France."),
        "cats": Text("Cats sleep for most of the day."),
        "url": Code("def parse_url(url):\n    scheme, rest = url.split('://', 1)\n    return scheme, rest", "python"),
        "csv": Code("def readCsvRows(path):\n    with open(path) as f:\n        return list(csv.reader(f))", "python"),
        "red": str(files / "red.png"),
        "blue": str(files / "blue.jpg"),
    }
    r.add(list(docs.values()), ids=list(docs), metadata=[{"n": i} for i in range(len(docs))])
    r.save(root / "index")
    return root / "index", docs


@pytest.fixture(scope="session")
def served_index(tmp_path_factory, tiny_vl_path):
    index, docs = build_index(tmp_path_factory.mktemp("serve"), tiny_vl_path)
    return index, docs


@pytest.fixture(scope="session")
def server(served_index, tmp_path_factory):
    s = Server(served_index[0], tmp_path_factory.mktemp("serve-log") / "server.log", "--api-key", API_KEY)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def local(served_index):
    """The same index loaded in this process, for comparisons."""
    return UnifiedRetriever.load(served_index[0])


def copy_index(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
