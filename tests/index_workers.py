"""Child processes for the index durability tests (``python -m tests.index_workers MODE ...``).

Every saved state is a pure function of (seed, gen), so a loader can check that what it loaded is one
complete save: all ids from one state, exactly its vectors, metadata and count.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np

from unret.index import VectorIndex

DIM = 16


def state(seed: int, gen: int) -> tuple[list[str], np.ndarray, list[dict]]:
    n = 100 + 37 * ((seed + gen) % 5)
    x = np.random.default_rng([seed, gen]).standard_normal((n, DIM)).astype(np.float32)
    return [f"s{seed}-g{gen}-{i}" for i in range(n)], x, [{"seed": seed, "gen": gen, "i": i} for i in range(n)]


def build(seed: int, gen: int) -> VectorIndex:
    ids, x, meta = state(seed, gen)
    ix = VectorIndex(DIM, dtype="f32", shard_size=64)
    ix.add(ids, x, "text", meta)
    return ix


def check(ix: VectorIndex) -> tuple[int, int]:
    """Assert ``ix`` is exactly one saved state; return its (seed, gen)."""
    ids = sorted(ix.ids())
    seeds_gens = {tuple(int(p[1:]) for p in i.split("-")[:2]) for i in ids}
    assert len(seeds_gens) == 1, f"a mix of saves: {sorted(seeds_gens)[:4]}"
    seed, gen = seeds_gens.pop()
    want_ids, x, meta = state(seed, gen)
    assert sorted(want_ids) == ids, (seed, gen, len(ids), len(want_ids))
    np.testing.assert_array_equal(ix.vectors(want_ids), x)
    assert [ix.get(i)[1] for i in want_ids[:5]] == meta[:5]
    probe = want_ids[:: max(1, len(want_ids) // 10)]
    assert [h[0].id for h in ix.search(ix.vectors(probe), k=1, exact=True)] == probe
    return seed, gen


def saver(path: str, seed: int, first_gen: int, rounds: int) -> None:
    """Save states (seed, first_gen), (seed, first_gen + 1), ... to ``path``, as fast as possible."""
    print("ready", flush=True)
    for gen in range(first_gen, first_gen + rounds):
        build(seed, gen).save(path)
        print(f"saved {gen}", flush=True)


def crash_between_renames(path: str, seed: int, gen: int) -> None:
    """Save (seed, gen) over ``path`` and die by SIGKILL right after the old folder was renamed aside."""
    real = os.replace
    calls = {"n": 0}

    def replace(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:  # 1: old folder -> .<name>.old, 2: new folder -> <name>
            os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(10)
        return real(src, dst)

    os.replace = replace
    build(seed, gen).save(path)


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    {"saver": saver, "crash": crash_between_renames}[mode](args[0], *map(int, args[1:]))
