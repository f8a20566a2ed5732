"""``unret serve`` refuses what it can check before loading the model — a missing index, an empty API key,
a bad port or log level, a port in use — as one line with its exit code, and a worker that cannot load the
index stops the server with that error instead of restarting forever."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest

from tests.serve.conftest import REPO, free_port

RUN_TIMEOUT_S = 180  # the worker test loads the model twice on a busy 2-core machine


def unret(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``unret ARGS`` to its end; (exit code, stderr). A hang fails the test at RUN_TIMEOUT_S."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
                **(env or {})}
    if "UNRET_API_KEY" not in (env or {}):
        full_env.pop("UNRET_API_KEY", None)
    try:
        done = subprocess.run([sys.executable, "-m", "unret.cli", *args], env=full_env, capture_output=True,
                              text=True, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"unret {' '.join(args)} did not exit within {RUN_TIMEOUT_S} s")
    return done.returncode, done.stderr


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("unret: error: ")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_a_missing_index_with_workers_exits_3_at_once(tmp_path):
    code, err = unret("serve", str(tmp_path / "missing"), "--view", "--workers", "2", "--port", str(free_port()))
    assert code == 3 and "no index at" in _one_error_line(err)


@pytest.mark.parametrize(("args", "env", "says"), [
    (["--api-key", ""], None, "API key is empty"),
    (["--api-key", "  "], None, "API key is empty"),
    ([], {"UNRET_API_KEY": ""}, "API key is empty"),
    (["--auth-reads"], None, "--auth-reads needs --api-key"),
    (["--workers", "2"], None, "needs --view"),
])
def test_bad_settings_exit_2_before_loading(served_index, args, env, says):
    code, err = unret("serve", str(served_index[0]), "--port", str(free_port()), *args, env=env)
    assert code == 2 and says in _one_error_line(err)


@pytest.mark.parametrize(("args", "says"), [(["--port", "99999"], "between 1 and 65535"),
                                            (["--port", "http"], "port number"),
                                            (["--log-level", "bogus"], "invalid choice")])
def test_bad_options_are_usage_errors(served_index, args, says):
    code, err = unret("serve", str(served_index[0]), *args)
    assert code == 2 and says in err and "Traceback" not in err


def test_a_port_in_use_exits_1_before_loading(served_index):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, err = unret("serve", str(served_index[0]), "--port", str(taken.getsockname()[1]))
    assert code == 1 and "in use" in _one_error_line(err)


@pytest.fixture(scope="module")
def damaged_index(served_index, tmp_path_factory):
    """The served index whose lexical.jsonl holds a number where a document's text belongs."""
    folder = tmp_path_factory.mktemp("damaged") / "index"
    shutil.copytree(served_index[0], folder)
    lexical = folder / "lexical" / "lexical.jsonl"
    lines = lexical.read_text().splitlines()
    lines[1] = '{"id": "paris", "text": 42}'
    lexical.write_text("\n".join(lines) + "\n")
    return folder


@pytest.mark.parametrize("workers", [[], ["--view", "--workers", "2"]])
def test_a_damaged_index_exits_5_with_or_without_workers(damaged_index, workers):
    code, err = unret("serve", str(damaged_index), "--port", str(free_port()), *workers)
    assert code == 5 and "lexical.jsonl" in _one_error_line(err)
