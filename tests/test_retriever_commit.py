"""``UnifiedRetriever.save`` is all or nothing: a kill -9 or a full disk between its parts never leaves a
document's vector from one save and its text from another."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from unret import UnifiedRetriever
from unret.items import Text
from unret.search import LexicalIndex

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")

# In a child: replace d1 (vector and text) and die by SIGKILL once the texts are about to be written, i.e.
# after the vector side of the save has been written.
KILLED_SAVE = """
import os, signal, sys
from unret import UnifiedRetriever
from unret.items import Text
from unret.search import LexicalIndex
r = UnifiedRetriever.load(sys.argv[1])
r.add([Text("a completely different second version about volcanoes")], ids=["d1"])
LexicalIndex.save = lambda self, path: os.kill(os.getpid(), signal.SIGKILL)
r.save(sys.argv[1])
"""


def consistent(ix: Path, old_vector: np.ndarray) -> bool:
    """Whether d1's vector and text come from the same save."""
    r = UnifiedRetriever.load(ix)
    new_vector = not np.allclose(r.index.vectors(["d1"]), old_vector)
    new_text = "volcanoes" in LexicalIndex.load(ix / "lexical").text("d1")
    return new_vector == new_text


@pytest.fixture
def saved(minilm_path, tmp_path):
    r = UnifiedRetriever.from_pretrained(minilm_path)
    r.add([Text(f"first version of document {i} about the sea") for i in range(3)], ids=["d0", "d1", "d2"])
    r.save(tmp_path / "ix")
    return r, tmp_path / "ix"


def test_a_save_killed_between_vectors_and_texts_leaves_them_consistent(saved):
    r, ix = saved
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    child = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(ix)], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=300)
    assert child.returncode == -9, child.stderr[-2000:]
    assert consistent(ix, r.index.vectors(["d1"]))


def test_a_save_failing_between_vectors_and_texts_changes_nothing(saved, monkeypatch):
    r, ix = saved
    old = r.index.vectors(["d1"])
    r.add([Text("a completely different second version about volcanoes")], ids=["d1"])

    def full(self, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(LexicalIndex, "save", full)
    with pytest.raises(OSError, match=r"no space left on device.*unchanged"):
        r.save(ix)
    monkeypatch.undo()
    assert consistent(ix, old)
    np.testing.assert_array_equal(UnifiedRetriever.load(ix).index.vectors(["d1"]), old)  # the old state
