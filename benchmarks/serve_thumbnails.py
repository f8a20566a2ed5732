"""Memory and time of thumbnails of a huge indexed image, under concurrent requests.

Writes one large PNG (default 9000×9000 = 81 megapixels, RGB) and, in a fresh process per row, asks
`unret.serve.images.thumbnail` for it from N threads at once, then once more (the cached case). Reports
the process's peak RSS above its baseline and the wall time of each round. Run it against another
checkout with ``PYTHONPATH=/path/to/that/checkout`` to compare.

    python benchmarks/serve_thumbnails.py                 # 81 Mpx, 1 and 3 concurrent requests
    python benchmarks/serve_thumbnails.py --side 12000 --threads 1 3 8
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import sys, threading, time
from unret.serve.images import thumbnail
def kib(field):  # VmHWM is this process's own peak (ru_maxrss keeps the parent's across fork + exec)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(field + ":"))
path, threads = sys.argv[1], int(sys.argv[2])
base = kib("VmRSS")
start = time.perf_counter()
workers = [threading.Thread(target=thumbnail, args=(path,)) for _ in range(threads)]
for w in workers: w.start()
for w in workers: w.join()
first = time.perf_counter() - start
start = time.perf_counter()
thumbnail(path)
again = time.perf_counter() - start
peak = kib("VmHWM")
print(f"{(peak - base) / 1024:.0f} {first:.2f} {again * 1000:.1f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=9000, help="the PNG is side×side pixels")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 3])
    args = parser.parse_args()
    from PIL import Image, ImageDraw

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "huge.png"
        img = Image.new("RGB", (args.side, args.side), (240, 240, 235))
        draw = ImageDraw.Draw(img)
        for i in range(0, args.side // 2, args.side // 20):
            draw.rectangle((i, i, args.side - i, i + args.side // 40), fill=(i % 255, 80, 160))
        img.save(path, compress_level=1)
        del img, draw
        print(f"{args.side}×{args.side} PNG ({args.side ** 2 / 1e6:.0f} Mpx, {path.stat().st_size / 1e6:.1f} MB)")
        print("threads  peak RSS above start (MB)  first round (s)  cached (ms)")
        for n in args.threads:
            out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(n)], capture_output=True, text=True,
                                 check=True, cwd=tmp).stdout.split()
            print(f"{n:7d}  {out[0]:>26}  {out[1]:>15}  {out[2]:>11}")


if __name__ == "__main__":
    main()
