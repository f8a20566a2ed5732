"""Child processes for the DocumentStore commit tests and benchmark (``python -m tests.store_workers MODE ...``).

Every saved state is a pure function of its generation, and each document's vector, metadata and text all
carry it, so a loader can check that what it loaded is one complete commit: vectors and texts of one save.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np

from unret.index import VectorIndex
from unret.search import LexicalIndex
from unret.store import DocumentStore

DIM = 8
CONFIG = {"format_version": 1, "backbone": {"kind": "toy"}, "model": {"name_or_path": "toy"}}


def state(gen: int) -> tuple[list[str], np.ndarray, list[dict], list[str]]:
    n = 20 + gen % 7
    x = np.random.default_rng([gen]).standard_normal((n, DIM)).astype(np.float32)
    ids = [f"d{i}" for i in range(n)]
    return ids, x, [{"gen": gen} for _ in ids], [f"document {i} written by generation g{gen}" for i in range(n)]


def build(gen: int) -> DocumentStore:
    ids, x, meta, texts = state(gen)
    store = DocumentStore(VectorIndex(DIM, dtype="f32"), LexicalIndex())
    store.add(ids, x, ["text"] * len(ids), meta, texts)
    return store


def check(store: DocumentStore) -> int:
    """Assert ``store`` is exactly one saved state, vectors and texts alike; return its generation."""
    gens = {store.get(i)[1]["gen"] for i in store.ids()}
    assert len(gens) == 1, f"vectors of several saves: {sorted(gens)}"
    gen = gens.pop()
    ids, x, _, texts = state(gen)
    assert sorted(store.ids()) == sorted(ids), (gen, len(store))
    np.testing.assert_array_equal(store.vectors.vectors(ids), x)
    lexical = store.lexical
    assert sorted(lexical.ids()) == sorted(ids), "lexical ids differ from the vectors'"
    assert [lexical.text(i) for i in ids] == texts, f"texts are not those of generation {gen}"
    return gen


def saver(path: str, first_gen: int, rounds: int) -> None:
    """Commit generations first_gen, first_gen + 1, ... to ``path``, as fast as possible."""
    print("ready", flush=True)
    for gen in range(first_gen, first_gen + rounds):
        build(gen).save(path, CONFIG)
        print(f"saved {gen}", flush=True)


def crash(path: str, gen: int, where: str) -> None:
    """Commit ``gen`` over ``path`` and die by SIGKILL: after the vectors were written but before the texts
    (``parts``), or between the folder swap's two renames (``swap``)."""
    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(10)

    if where == "parts":
        LexicalIndex.save = die
    else:
        from unret.index import folder

        real_swap, real_replace = folder.swap_in, os.replace

        def swap_in(tmp, target, marker=folder.MANIFEST):
            if marker == folder.MANIFEST:
                return real_swap(tmp, target, marker)
            calls = {"n": 0}

            def replace(src, dst):
                calls["n"] += 1
                if calls["n"] == 2:  # 1: old folder -> .<name>.old, 2: new folder -> <name>
                    die()
                return real_replace(src, dst)

            os.replace = replace
            return real_swap(tmp, target, marker)

        folder.swap_in = swap_in
    build(gen).save(path, CONFIG)


def served_text(doc_id: str, version: int) -> str:
    return f"served document {doc_id} version v{version}"


def serve_writes(path: str, seed: int) -> None:
    """The server's write path (``SearchService.add`` / ``remove``, as POST / DELETE /documents) on ``path``,
    back to back; prints ``begin add ID V`` / ``begin del ID`` before a write and ``ack …`` once it returned
    (was acknowledged)."""
    import random

    from unret.errors import IndexLockedError
    from unret.items import Text
    from unret.serve.service import SearchService

    service = SearchService.load(path)
    rng = random.Random(seed)
    print("ready", flush=True)
    for n in range(10_000):
        doc_id = f"p{seed}-{rng.randrange(20)}"
        try:
            if doc_id in service.retriever.store and rng.random() < 0.3:
                print(f"begin del {doc_id}", flush=True)
                service.remove(doc_id)
                print(f"ack del {doc_id}", flush=True)
            else:
                print(f"begin add {doc_id} {n}", flush=True)
                service.add([Text(served_text(doc_id, n))], [doc_id], [{"v": n}])
                print(f"ack add {doc_id} {n}", flush=True)
        except IndexLockedError:
            time.sleep(0.05)


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "saver":
        saver(args[0], int(args[1]), int(args[2]))
    elif mode == "serve":
        serve_writes(args[0], int(args[1]))
    else:
        crash(args[0], int(args[1]), args[2])
