"""The readers–writer lock: readers overlap, a writer is alone, a waiting writer is not starved."""

from __future__ import annotations

import threading
import time

from unret.serve.rwlock import ReadWriteLock


def test_readers_overlap_and_writers_are_exclusive():
    lock = ReadWriteLock()
    inside, peak, log = [0], [0], []
    guard = threading.Lock()

    def reader():
        with lock.read():
            with guard:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.05)
            with guard:
                inside[0] -= 1

    def writer(i):
        with lock.write():
            log.append(("start", i, lock.state[0]))
            time.sleep(0.02)
            log.append(("end", i, lock.state[0]))

    threads = [threading.Thread(target=reader) for _ in range(4)] + [
        threading.Thread(target=writer, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in threads)
    assert peak[0] >= 2  # readers ran together
    assert all(readers == 0 for _, _, readers in log)  # no reader while a writer held the lock
    starts_ends = [kind for kind, _, _ in log]
    assert starts_ends == ["start", "end"] * 3  # writers never interleaved


def test_a_waiting_writer_blocks_new_readers():
    lock = ReadWriteLock()
    order = []
    first_in, release = threading.Event(), threading.Event()

    def long_reader():
        with lock.read():
            first_in.set()
            release.wait(5)
            order.append("reader1")

    def writer():
        with lock.write():
            order.append("writer")

    def late_reader():
        with lock.read():
            order.append("reader2")

    t1 = threading.Thread(target=long_reader)
    t1.start()
    first_in.wait(5)
    t2 = threading.Thread(target=writer)
    t2.start()
    while lock._waiting_writers == 0:  # the writer is queued
        time.sleep(0.001)
    t3 = threading.Thread(target=late_reader)
    t3.start()
    time.sleep(0.05)
    assert order == []  # the late reader waits behind the writer
    release.set()
    for t in (t1, t2, t3):
        t.join(timeout=5)
    assert order == ["reader1", "writer", "reader2"]
