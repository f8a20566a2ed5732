"""Frozen-backbone embedding cache of a fused model: a cold pass against fully cached passes.

With frozen backbones every item's vectors are cached by content key; a cached batch should cost neither
the backbones' forward nor their preparation (tokenisation, image processing), which a fusion head's
second and later training epochs rely on. Offline: the tiny Qwen2 + Qwen2.5-VL checkpoints.

    python benchmarks/fused_cache_bench.py [--items 96] [--batch-size 16] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image

from unret import UnifiedRetriever
from unret.backbones import FusedBackbone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=96, help="half texts, half images")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    items: list = []
    for i in range(args.items // 2):
        items.append(f"a text about topic {i} " * (1 + i % 5))
        items.append(Image.fromarray(rng.integers(0, 256, (56 + 28 * (i % 3), 84, 3), dtype=np.uint8)))
    backbone = FusedBackbone.build("unret-testing/tiny-qwen2", "unret-testing/tiny-qwen2.5-vl", head="gated")
    fused = UnifiedRetriever(backbone, {"name_or_path": "tiny-fused"})
    times = []
    for _ in range(3):
        start = time.perf_counter()
        fused.encode_documents(items, batch_size=args.batch_size)
        times.append(time.perf_counter() - start)
    print("| pass | seconds | vs cold |\n|---|---:|---:|")
    for name, seconds in zip(("cold cache", "all cached", "all cached"), times, strict=True):
        print(f"| {name} | {seconds:.3f} | {seconds / times[0]:.2f} |")


if __name__ == "__main__":
    main()
