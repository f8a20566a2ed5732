"""Peak memory of a block of code, shared by the benchmarks."""

from __future__ import annotations

import os
import threading

import torch


class PeakMemory:
    """Peak memory (MiB) while the block runs: resident memory from /proc/self/statm sampled every 2 ms
    (CPU), or ``torch.cuda.max_memory_allocated`` (GPU). ``baseline`` is the value when the block starts, so
    ``peak - baseline`` is what the block itself added (model loading and prepared inputs excluded)."""

    def __enter__(self) -> PeakMemory:
        self._stop = threading.Event()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
            self.baseline = torch.cuda.memory_allocated() / 2**20
        else:
            self.baseline = self._rss()
        self.peak = self.baseline
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def _rss() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if torch.cuda.is_available():
            self.peak = torch.cuda.max_memory_allocated() / 2**20
        else:
            self.peak = max(self.peak, self._rss())

    @property
    def added(self) -> float:
        return self.peak - self.baseline
