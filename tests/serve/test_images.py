"""Thumbnails of indexed image files: right pixels at reduced scale, a bounded number of decodes at once,
cached until the file changes, and a clear refusal for files too large to decode."""

from __future__ import annotations

import io
import os
import threading
import time

import numpy as np
import pytest
from PIL import Image, ImageFile

from tests.serve.test_server import _png_bomb
from unret.serve import images
from unret.serve.images import MAX_CONCURRENT_THUMBNAILS, PayloadTooLargeError, thumbnail


@pytest.fixture(autouse=True)
def empty_cache():
    cache = getattr(images, "_cache", {})
    cache.clear()
    yield
    cache.clear()


def _halves(width: int, height: int) -> Image.Image:
    """Left half red, right half blue."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 2] = (220, 20, 20)
    pixels[:, width // 2:] = (20, 20, 220)
    return Image.fromarray(pixels)


def _decoded(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG"
    return img.convert("RGB")


@pytest.mark.parametrize(("name", "size"), [("big.png", (1200, 600)), ("big.jpg", (4000, 2000))])
def test_thumbnail_pixels_match_the_image(tmp_path, name, size):
    path = tmp_path / name
    _halves(*size).save(path)
    thumb = _decoded(thumbnail(str(path)))
    assert thumb.size == (256, 128)
    left, right = np.asarray(thumb)[64, 30].astype(int), np.asarray(thumb)[64, 225].astype(int)
    assert np.abs(left - (220, 20, 20)).max() < 30 and np.abs(right - (20, 20, 220)).max() < 30


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown rotated 90° clockwise
    _halves(400, 200).save(path, exif=exif)
    thumb = _decoded(thumbnail(str(path)))
    assert thumb.size == (128, 256)
    top, bottom = np.asarray(thumb)[30, 64].astype(int), np.asarray(thumb)[225, 64].astype(int)
    assert np.abs(top - (220, 20, 20)).max() < 30 and np.abs(bottom - (20, 20, 220)).max() < 30


def test_a_400_megapixel_file_is_refused_by_name(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(_png_bomb(20_000, 20_000))
    with pytest.raises(PayloadTooLargeError, match=r"huge\.png.*too large"):
        thumbnail(str(path))


def test_an_81_megapixel_png_thumbnails(tmp_path):
    path = tmp_path / "poster.png"
    path.write_bytes(_png_bomb(9_000, 9_000))  # 1-bit black: small on disk, 81 M pixels decoded
    thumb = _decoded(thumbnail(str(path)))
    assert thumb.size == (256, 256) and np.asarray(thumb).max() < 10


def test_concurrent_decodes_are_bounded_and_cached(tmp_path, monkeypatch):
    """Eight requests for four files: at most MAX_CONCURRENT_THUMBNAILS decode at once, each file once."""
    active, peak, loads, lock = 0, 0, [], threading.Lock()
    load = ImageFile.ImageFile.load

    def slow_load(self):
        nonlocal active, peak
        if not self.tile:  # already decoded: PIL calls load again from convert, thumbnail…
            return load(self)
        with lock:
            active += 1
            peak = max(peak, active)
            if self.filename:  # a file, not the JPEG this test decodes from bytes
                loads.append(self.filename)
        time.sleep(0.1)
        try:
            return load(self)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(ImageFile.ImageFile, "load", slow_load)
    paths = []
    for i in range(4):
        paths.append(tmp_path / f"img{i}.png")
        Image.new("RGB", (300, 200), (10 * i, 0, 0)).save(paths[-1])
    results: dict[int, bytes] = {}
    threads = [threading.Thread(target=lambda n=n: results.__setitem__(n, thumbnail(str(paths[n % 4]))))
               for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert peak <= MAX_CONCURRENT_THUMBNAILS and len(results) == 8
    assert sorted(loads) == sorted(str(p) for p in paths)  # every file decoded exactly once
    assert all(results[n] == results[n % 4] for n in range(8))

    Image.new("RGB", (300, 200), (0, 200, 0)).save(paths[0])  # the file changes: made again
    os.utime(paths[0], ns=(time.time_ns(), time.time_ns() + 10**9))
    assert np.asarray(_decoded(thumbnail(str(paths[0]))))[100, 150, 1] > 150 and len(loads) == 5


def test_concurrent_requests_for_one_file_share_one_decode(tmp_path, monkeypatch):
    """Three requests for one huge file at once made three full-size decodes (+2.8 GB at 81 Mpx)."""
    loads = []
    load = ImageFile.ImageFile.load

    def slow_load(self):
        if self.tile and self.filename:
            loads.append(self.filename)
            time.sleep(0.2)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", slow_load)
    path = tmp_path / "one.png"
    Image.new("RGB", (600, 400), (0, 90, 0)).save(path)
    results = []
    threads = [threading.Thread(target=lambda: results.append(thumbnail(str(path)))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 4 and len(set(results)) == 1 and loads == [str(path)]
