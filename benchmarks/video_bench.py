"""Video items: decoding and sampling a clip (PyAV, qwen-vl-utils' rule), and a clip through a tiny Qwen2.5-VL.

A generated H.264 clip (random frames, so nothing compresses away) is read as `unret.video.read_frames` reads
it: every frame is decoded in order, the 2-a-second ones kept. Then the same clip is embedded end to end on
the tiny offline checkpoint, where decoding dominates.

    python benchmarks/video_bench.py                      # 10 s at 30 fps, 320×240
    python benchmarks/video_bench.py --seconds 60 --size 640x360 --threads 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from unret import UnifiedRetriever, Video
from unret.testing import tiny_qwen25_vl_path
from unret.video import Sampling, read_frames, write_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    width, height = map(int, args.size.split("x"))
    rng = np.random.default_rng(0)
    count = int(args.seconds * args.fps)
    frames = [Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)) for _ in range(count)]
    with tempfile.TemporaryDirectory() as tmp:
        path = write_video(Path(tmp) / "clip.mp4", frames, fps=args.fps, codec="libx264")
        decode = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            clip = read_frames(path, Sampling())
            decode.append(time.perf_counter() - start)
        retriever = UnifiedRetriever.from_pretrained(tiny_qwen25_vl_path())
        retriever.encode_documents(Video(path))  # warm-up
        encode = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            retriever.encode_documents(Video(path))
            encode.append(time.perf_counter() - start)
    print(f"clip: {count} frames {width}x{height} at {args.fps:g} fps; kept {len(clip.frames)} at {clip.fps:g} fps")
    print(f"decode + sample: {min(decode):.2f} s (best of {args.repeats})")
    print(f"embed (tiny Qwen2.5-VL, {args.threads} thread(s), decoding included): {min(encode):.2f} s")


if __name__ == "__main__":
    main()
