"""Kill -9 and concurrency figures for the index's durability promise (docs/indexing.md § Durability).

Three experiments with real processes (the workers of tests/index_workers.py), each counting outcomes:

* kill: a child saves new states back to back and is killed with SIGKILL at a random moment, R times;
  after each kill the index is loaded and checked to be exactly one complete save, with no temp folder left;
* torn: a child saves N states while this process loads (alternately view=False / True) and checks each load;
* savers: two children each save N states to one path at the same time; both must finish.

    PYTHONPATH=. python benchmarks/index_durability.py --kill-rounds 100 --saves 200

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kill-rounds", type=int, default=50)
    parser.add_argument("--saves", type=int, default=100, help="saves per child in 'torn' and 'savers'")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, counts in (("kill", kill(root, args.kill_rounds, args.seed)), ("torn", torn(root, args.saves)),
                             ("savers", savers(root, args.saves))):
            for what, n in sorted(counts.items()):
                print(f"{name:7s} {what:55s} {n:6d}")


if __name__ == "__main__":
    main()
