"""Kill -9 and concurrency figures for the index's durability promise (docs/indexing.md § Durability).

Three experiments with real processes (the workers of tests/index_workers.py), each counting outcomes:

* kill: a child saves new states back to back and is killed with SIGKILL at a random moment, R times;
  after each kill the index is loaded and checked to be exactly one complete save, with no temp folder left;
* torn: a child saves N states while this process loads (alternately view=False / True) and checks each load;
* savers: two children each save N states to one path at the same time; both must finish;
* server+index: the server's write path (``SearchService.add``, as POST /documents, one every 0.1 s) adds
  documents in a thread while ``unret index`` runs add folders to the same index folder (a run waits up to
  5 s for a server write to finish; one still refused with exit 8 is retried); every acknowledged write of
  both must be on disk, and server writes made during a run are answered 423;
* kill-writes: a child applies the server's writes (add / upsert / delete, as POST / DELETE /documents) back
  to back and is killed with SIGKILL at a random moment, R times; after each kill no acknowledged write
  may be lost and the write in flight must be applied whole (vector and text) or not at all.

The last two load MiniLM (``unret-offline/all-MiniLM-L6-v2``) in each child process.

    PYTHONPATH=. python benchmarks/index_durability.py --kill-rounds 100 --saves 200 --runs 3 --write-kills 10

Run with PYTHONPATH pointing at another checkout (with tests/index_workers.py copied in) to measure it.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import tests.index_workers as workers
from tests.index_workers import build, check
from unret.index import VectorIndex

ROOT = Path(workers.__file__).resolve().parents[1]


def spawn(*args: object) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.index_workers", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def outcome_of_load(path: Path, view: bool = False) -> tuple[str, tuple[int, int] | None]:
    try:
        return "complete", check(VectorIndex.load(path, view=view))
    except AssertionError:
        return "MIXED", None
    except Exception as e:
        return f"error {type(e).__name__}", None


def leftovers(path: Path) -> list[str]:
    return [p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")]


def kill(root: Path, rounds: int, seed: int) -> collections.Counter:
    path, rng, counts, last = root / "kill", random.Random(seed), collections.Counter(), None
    build(3, 0).save(path)
    for r in range(rounds):
        child = spawn("saver", path, 3, 1000 * (r + 1), 10_000)
        child.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.4))
        child.send_signal(signal.SIGKILL)
        child.communicate()
        counts["index folder missing after kill"] += not path.exists()
        what, state = outcome_of_load(path)
        counts[f"load: {what}"] += 1
        counts["newer save than last round" if state and state != last else "same save as last round"] += 1
        last = state or last
        counts["temp/backup folders next to the index after load (summed)"] += len(leftovers(path))
    return counts


def torn(root: Path, saves: int) -> collections.Counter:
    path, counts, seen = root / "torn", collections.Counter(), set()
    build(2, 0).save(path)
    writer = spawn("saver", path, 2, 1, saves)
    n = 0
    while writer.poll() is None:
        what, state = outcome_of_load(path, view=n % 2 == 1)
        counts[f"load: {what}"] += 1
        seen.add(state)
        n += 1
    writer.communicate()
    counts[f"writer exit {writer.returncode}"] += 1
    counts["distinct saves seen"] = len(seen - {None})
    return counts


def savers(root: Path, saves: int) -> collections.Counter:
    path, counts = root / "savers", collections.Counter()
    children = [spawn("saver", path, seed, 0, saves) for seed in (5, 6)]
    for child in children:
        out, err = child.communicate()
        counts[f"saver exit {child.returncode}"] += 1
        counts["saves completed"] += out.count("saved")
        if child.returncode:
            counts[f"saver error: {err.strip().splitlines()[-1][:70]}"] += 1
    counts[f"final load: {outcome_of_load(path)[0]}"] += 1
    return counts


MODEL = "unret-offline/all-MiniLM-L6-v2"


def served_index(path: Path):
    from unret import UnifiedRetriever
    from unret.items import Text

    r = UnifiedRetriever.from_pretrained(MODEL)
    r.add([Text("a first document")], ids=["seed"])
    r.save(path)
    return r


def half_applied(path: Path) -> int:
    """Documents whose vector and text disagree (the text of another version, or one side missing)."""
    from tests.store_workers import served_text
    from unret.store import DocumentStore

    store = DocumentStore.load(path)
    bad = len(set(store.lexical.ids()) ^ set(store.ids()))
    for i in store.ids():
        v = store.get(i)[1].get("v")
        bad += v is not None and store.text(i) != served_text(i, v)
    return bad


def server_and_index(root: Path, runs: int, files: int) -> collections.Counter:
    from unret.errors import IndexLockedError
    from unret.items import Text
    from unret.serve.service import SearchService

    path, counts, acked = root / "shared", collections.Counter(), set()
    service = SearchService(served_index(path), path)
    stop = threading.Event()

    def server_writes() -> None:
        n = 0
        while not stop.is_set():
            try:
                service.add([Text(f"a document posted to the server, number {n}")], [f"posted-{n}"], [None])
                acked.add(f"posted-{n}")
                n += 1
                time.sleep(0.1)  # a client pacing its POSTs (back to back, the server would never let go)
            except IndexLockedError:
                counts["server writes answered 423 (index run holds the lock)"] += 1
                time.sleep(0.05)

    writer = threading.Thread(target=server_writes)
    writer.start()
    indexed = set()
    for r in range(runs):
        src = root / f"src{r}"
        src.mkdir()
        for f in range(files):
            (src / f"f{f}.txt").write_text(f"file {f} of run {r} about lighthouses\n")
            indexed.add(str((src / f"f{f}.txt").resolve()))
        for _ in range(20):
            env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
            rc = subprocess.run([sys.executable, "-m", "unret.cli", "index", str(src), "--out", str(path), "--quiet"],
                                cwd=ROOT, env=env, capture_output=True).returncode
            counts[f"index run exit {rc}"] += 1
            if rc != 8:
                break
            time.sleep(0.2)
    stop.set()
    writer.join()
    from unret.store import DocumentStore

    on_disk = set(DocumentStore.load(path).ids())
    counts["server writes acknowledged"] = len(acked)
    counts["acknowledged server writes lost"] = len(acked - on_disk)
    counts["indexed files lost"] = len(indexed - on_disk)
    counts["documents half-applied (vector/text mismatch)"] = half_applied(path)
    return counts


def kill_writes(root: Path, rounds: int, seed: int) -> collections.Counter:
    from unret.store import DocumentStore

    path, rng, counts = root / "killw", random.Random(seed), collections.Counter()
    served_index(path)
    truth: dict[str, int | None] = {"seed": None}  # id -> version acknowledged (None: no version / deleted)
    present = {"seed"}
    for r in range(rounds):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
        child = subprocess.Popen([sys.executable, "-m", "tests.store_workers", "serve", str(path), str(seed + r)],
                                 cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        child.stdout.readline()
        time.sleep(rng.uniform(0.3, 3.0))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        in_flight = None
        for line in out.splitlines():
            words = line.split()
            if len(words) < 3 or not line.endswith(words[-1]):
                continue
            if words[0] == "begin":
                in_flight = words[1:]
            elif words[0] == "ack":
                counts["writes acknowledged"] += 1
                in_flight = None
                if words[1] == "add":
                    truth[words[2]], _ = int(words[3]), present.add(words[2])
                else:
                    present.discard(words[2])
        store = DocumentStore.load(path)
        state = {i: store.get(i)[1].get("v") for i in store.ids()}
        flight_id = in_flight[1] if in_flight else None
        if in_flight:  # applied whole, or not at all
            counts["kills during a write"] += 1
            applied = (in_flight[0] == "add" and state.get(flight_id) == int(in_flight[2])) or \
                (in_flight[0] == "del" and flight_id not in state)
            counts["unacknowledged write in flight: " + ("applied whole" if applied else "not applied")] += 1
            if applied:
                if in_flight[0] == "add":
                    truth[flight_id] = int(in_flight[2])
                    present.add(flight_id)
                else:
                    present.discard(flight_id)
        lost = [i for i in present if i != flight_id and (i not in state or state[i] != truth[i])]
        lost += [i for i in state if i not in present and i != flight_id]
        counts["acknowledged writes lost"] += len(lost)
        counts["documents half-applied (vector/text mismatch)"] += half_applied(path)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kill-rounds", type=int, default=50)
    parser.add_argument("--saves", type=int, default=100, help="saves per child in 'torn' and 'savers'")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=2, help="unret index runs beside the server (server+index)")
    parser.add_argument("--write-kills", type=int, default=5, help="rounds of kill-writes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, counts in (("kill", kill(root, args.kill_rounds, args.seed)), ("torn", torn(root, args.saves)),
                             ("savers", savers(root, args.saves)),
                             ("server+index", server_and_index(root, args.runs, 5)),
                             ("kill-writes", kill_writes(root, args.write_kills, args.seed))):
            for what, n in sorted(counts.items()):
                print(f"{name:12s} {what:58s} {n:6d}", flush=True)


if __name__ == "__main__":
    main()
