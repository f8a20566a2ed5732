"""What survives a crash, a concurrent save, a foreign folder at the target (issue 12 items 1, 2, 5, 6, 10).

Crash and concurrency tests use real processes (``tests/index_workers.py``) and ``kill -9``, bounded in
rounds and seconds. Every loaded index is checked to be exactly one complete save (``index_workers.check``).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.index_workers import build, check
from unret.errors import IndexPathError
from unret.index import VectorIndex

ROOT = Path(__file__).resolve().parents[1]


def spawn(*args: object) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.index_workers", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def leftovers(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.") and
                  not p.name.endswith(".lock"))


# ------------------------------------------------------------------------ item 1: foreign folders


def test_save_only_replaces_an_unret_index(tmp_path):
    ix = build(1, 0)
    docs = tmp_path / "d"
    docs.mkdir()
    (docs / "thesis.docx").write_text("years of work")
    with pytest.raises(IndexPathError, match=f"{docs}.*not an unret index"):
        ix.save(docs)
    assert (docs / "thesis.docx").read_text() == "years of work" and sorted(os.listdir(docs)) == ["thesis.docx"]

    file = tmp_path / "f"
    file.write_text("a file")
    with pytest.raises(IndexPathError, match=f"{file} is a file"):
        ix.save(file)
    assert file.read_text() == "a file"
    assert leftovers(docs) == [] and leftovers(file) == []  # nothing created next to them either

    empty = tmp_path / "empty"
    empty.mkdir()
    ix.save(empty)  # an empty folder holds nothing to lose
    build(1, 1).save(empty)  # and an index is replaced by the next save
    assert check(VectorIndex.load(empty)) == (1, 1)


# ------------------------------------------------------------------------ item 6: links, strays, temp folders


def test_links_and_stray_files_at_the_path_do_not_break_saving(tmp_path):
    real = tmp_path / "real"
    build(1, 0).save(real)
    link = tmp_path / "link"
    link.symlink_to(real)
    build(1, 1).save(link)  # through the link: the folder it points to is replaced, the link stays
    assert link.is_symlink() and check(VectorIndex.load(real)) == (1, 1) == check(VectorIndex.load(link))

    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    build(1, 2).save(dangling)  # like ``echo > link``: the save lands where the link points
    assert dangling.is_symlink() and check(VectorIndex.load(tmp_path / "nowhere")) == (1, 2)

    (tmp_path / ".real.old").write_text("stray file where the backup goes")
    build(1, 3).save(real)
    assert check(VectorIndex.load(real)) == (1, 3) and leftovers(real) == []


def test_temp_folders_of_dead_saves_are_cleaned_and_live_ones_kept(tmp_path):
    path = tmp_path / "ix"
    build(1, 0).save(path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for pid, name in ((dead.pid, "dead"), (live.pid, "live")):
            tmp = tmp_path / f".ix.tmp-{pid}-{name}"
            tmp.mkdir()
            (tmp / "shard-00000.usearch").write_bytes(b"\0" * 4096)
        VectorIndex.load(path)
        assert leftovers(path) == [f".ix.tmp-{live.pid}-live"]  # a live process may still be saving
        live.kill()
        live.wait()
        build(1, 1).save(path)
        assert leftovers(path) == []
    finally:
        live.kill()
        live.wait()


# ------------------------------------------------------------------------ item 5: crash between renames


@pytest.mark.slow
def test_a_crash_between_the_renames_is_recovered_by_load(tmp_path):
    path = tmp_path / "ix"
    build(4, 0).save(path)
    child = spawn("crash", path, 4, 1)
    assert child.wait(timeout=120) == -signal.SIGKILL
    assert not path.exists() and (tmp_path / ".ix.old" / "manifest.json").exists()  # the state a crash leaves
    assert check(VectorIndex.load(path)) == (4, 0)  # load puts the previous save back...
    assert path.is_dir() and leftovers(path) == []
    child = spawn("crash", path, 4, 1)
    assert child.wait(timeout=120) == -signal.SIGKILL
    build(4, 2).save(path)  # ...and so does the next save, before replacing it
    assert check(VectorIndex.load(path)) == (4, 2) and leftovers(path) == []


# ------------------------------------------------------------------------ item 2: torn loads


@pytest.mark.slow
def test_loads_during_another_process_saves_see_one_complete_save(tmp_path):
    path = tmp_path / "ix"
    build(2, 0).save(path)
    writer = spawn("saver", path, 2, 1, 60)
    seen, loads, deadline = set(), 0, time.monotonic() + 60
    try:
        while writer.poll() is None and time.monotonic() < deadline:
            seen.add(check(VectorIndex.load(path, view=loads % 2 == 1)))
            loads += 1
    finally:
        writer.kill()
        _out, err = writer.communicate()
    assert writer.returncode == 0, err
    print(f"torn-load check: {loads} loads during 60 saves by another process, {len(seen)} distinct saves seen")
    assert loads >= 20 and len(seen) >= 5


# ------------------------------------------------------------------------ item 10: concurrent saves


@pytest.mark.slow
def test_two_processes_saving_to_one_path_both_succeed(tmp_path):
    path = tmp_path / "ix"
    savers = [spawn("saver", path, seed, 0, 150) for seed in (5, 6)]
    results = [p.communicate(timeout=300) for p in savers]
    for p, (out, err) in zip(savers, results, strict=True):
        assert p.returncode == 0, err
        assert out.count("saved") == 150
    seed, _gen = check(VectorIndex.load(path))
    assert seed in (5, 6) and leftovers(path) == []


# ------------------------------------------------------------------------ kill -9 during saves


@pytest.mark.slow
def test_kill_9_at_random_moments_of_saving_never_loses_the_index(tmp_path):
    path = tmp_path / "ix"
    build(3, 0).save(path)
    rng = random.Random(0)
    outcomes = {"newer": 0, "unchanged": 0, "recovered": 0}
    last = 0
    for r in range(20):
        child = spawn("saver", path, 3, 1000 * (r + 1), 10_000)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.4))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        child.stdout.close()
        child.stderr.close()
        outcomes["recovered"] += not path.exists()
        _seed, gen = check(VectorIndex.load(path))
        outcomes["newer" if gen != last else "unchanged"] += 1
        last = gen
        assert leftovers(path) == [], f"round {r}: {leftovers(path)}"
    print(f"kill -9 during saves: 20 rounds, {outcomes}")
    assert outcomes["newer"] >= 5  # the kills did land while saves were completing
