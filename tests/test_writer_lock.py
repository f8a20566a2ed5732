"""One writer per index folder: a second writer — another process, another thread, a second ``unret index``
or ``unret remove`` — is refused at once with IndexLockedError (CLI exit 8), and nothing is lost."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from unret import UnifiedRetriever
from unret.cli import main
from unret.cli.errors import LOCKED, exit_code
from unret.errors import IndexLockedError
from unret.items import Text
from unret.search import LexicalIndex
from unret.store.writer_lock import WriterLock, held_here, lock_file, writing

ROOT = Path(__file__).resolve().parents[1]
HOLD = "import sys; from unret.store.writer_lock import WriterLock; WriterLock(sys.argv[1]).acquire(); " \
       "print('held', flush=True); sys.stdin.read()"


@contextmanager
def held_by_another_thread(folder: Path):
    """The writer lock of ``folder`` held by another thread until the block ends (another writer at work)."""
    got, done = threading.Event(), threading.Event()

    def hold():
        with writing(folder):
            got.set()
            done.wait(120)

    t = threading.Thread(target=hold)
    t.start()
    assert got.wait(30)
    try:
        yield
    finally:
        done.set()
        t.join(30)


def test_another_process_holding_the_lock_refuses_a_second_writer_naming_it(tmp_path):
    folder = tmp_path / "ix"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], cwd=ROOT, env=env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(IndexLockedError, match=f"{folder}.*being written by pid {child.pid}") as info:
            WriterLock(folder).acquire()
        assert exit_code(info.value) == LOCKED == 8
    finally:
        child.stdin.close()
        child.wait(30)
    with writing(folder):  # the holder exited: the lock is free again (a kill -9 frees it the same way)
        assert held_here(folder) and lock_file(folder).parent == tmp_path
    assert not held_here(folder)


def test_the_lock_is_reentrant_in_one_thread_and_exclusive_across_threads(tmp_path):
    with writing(tmp_path / "ix"), writing(tmp_path / "ix"):  # a save inside a run's hold
        refused = []

        def other_thread():
            try:
                WriterLock(tmp_path / "ix").acquire()
            except IndexLockedError as e:
                refused.append(e)

        t = threading.Thread(target=other_thread)
        t.start()
        t.join(30)
        assert len(refused) == 1
    with held_by_another_thread(tmp_path / "ix"), pytest.raises(IndexLockedError):
        WriterLock(tmp_path / "ix").acquire()


def test_a_wait_lets_a_writer_in_once_a_short_hold_ends(tmp_path):
    """A run waits out a server's one write (a short hold), but not a hold that outlasts the wait."""
    with held_by_another_thread(tmp_path / "ix"):
        with pytest.raises(IndexLockedError):
            WriterLock(tmp_path / "ix").acquire()
        with pytest.raises(IndexLockedError):
            WriterLock(tmp_path / "ix", wait=0.2).acquire()
    got, done = threading.Event(), threading.Event()

    def short_hold():
        with writing(tmp_path / "ix"):
            got.set()
            done.wait(0.3)

    t = threading.Thread(target=short_hold)
    t.start()
    assert got.wait(30)
    lock = WriterLock(tmp_path / "ix", wait=10).acquire()  # acquired once the 0.3 s hold ends
    assert held_here(tmp_path / "ix")
    lock.release()
    t.join()


@pytest.fixture
def saved(minilm_path, tmp_path) -> tuple[UnifiedRetriever, Path]:
    r = UnifiedRetriever.from_pretrained(minilm_path)
    r.add([Text(f"first writer document {i}") for i in range(5)], ids=[f"w{i}" for i in range(5)])
    r.save(tmp_path / "ix")
    return r, tmp_path / "ix"


def test_a_second_index_run_fails_fast_and_the_first_writers_items_are_kept(saved, tmp_path, capsys):
    first, ix = saved
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"f{i}.txt").write_text(f"a file to index number {i}\n")
    with held_by_another_thread(ix):  # the first writer is at work
        assert main(["index", str(src), "--out", str(ix), "--quiet"]) == LOCKED
        assert "is being written by pid" in capsys.readouterr().err
        assert main(["remove", str(ix), "w0"]) == LOCKED
    first.add([Text("first writer's last document")], ids=["w5"])
    first.save(ix)
    assert sorted(UnifiedRetriever.load(ix).index.ids()) == [f"w{i}" for i in range(6)]  # all kept


def test_save_refuses_while_another_writer_holds_the_folder(saved):
    r, ix = saved
    r.add([Text("not saved")], ids=["x"])
    with held_by_another_thread(ix), pytest.raises(IndexLockedError):
        r.save(ix)
    assert "x" not in UnifiedRetriever.load(ix).index


def test_unret_remove_saves_the_texts_too(saved, capsys):
    """Without reconcile: the lexical file itself no longer holds the removed document."""
    _, ix = saved
    assert main(["remove", str(ix), "w1", "w3"]) == 0
    lexical = LexicalIndex.load(ix / "lexical")
    assert sorted(lexical.ids()) == ["w0", "w2", "w4"]
    assert main(["info", str(ix), "--json"]) == 0
    assert '"items": 3' in capsys.readouterr().out
