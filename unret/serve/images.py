"""Images over HTTP: decode uploads defensively, and make thumbnails only of files that are in the index.

An upload is untrusted: its size is capped before decoding, its pixel count before the pixels are
allocated (a 40 kB PNG can declare 10⁹ pixels), and anything PIL cannot decode is a 400, not a crash.
A thumbnail is looked up by the *id* of an indexed image; the file read is the one recorded in the
catalog when the image was indexed, never a path from the request, so ``../`` in a URL cannot reach other
files. Indexed files can be huge (an 81-megapixel PNG decodes to 243 MB): thumbnails decode at reduced
scale where the format allows, one per file and at most two at a time, and are cached, so repeated or
concurrent requests neither multiply the memory nor decode again.
"""

from __future__ import annotations

import io
import threading
import warnings
from pathlib import Path

from cachetools import LRUCache
from PIL import Image, ImageOps, UnidentifiedImageError

from unret.errors import InputError

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000
THUMBNAIL_SIZE = 256
MAX_THUMBNAIL_PIXELS = 120_000_000  # after the decoder's own reduction; ~360 MB of RGB at most
MAX_CONCURRENT_THUMBNAILS = 2  # decodes at once: each may hold a full-size image in memory
THUMBNAIL_CACHE_SIZE = 512  # thumbnails kept (≈ 10–30 kB each)

_decodes = threading.BoundedSemaphore(MAX_CONCURRENT_THUMBNAILS)
_cache: LRUCache[tuple, bytes] = LRUCache(maxsize=THUMBNAIL_CACHE_SIZE)
_cache_lock = threading.Lock()
_making: dict[tuple, threading.Lock] = {}  # the decode in progress per cache key


class PayloadTooLargeError(InputError):
    """An upload over the size or pixel limit (HTTP 413)."""


def decode_upload(data: bytes, name: str = "upload") -> Image.Image:
    """The uploaded image as RGB; `InputError` (corrupt) or `PayloadTooLargeError` (too big) naming it."""
    if len(data) > MAX_IMAGE_BYTES:
        raise PayloadTooLargeError(f"image {name!r} is {len(data)} bytes; the limit is {MAX_IMAGE_BYTES}")
    if not data:
        raise InputError(f"image {name!r} is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise PayloadTooLargeError(f"image {name!r} is {img.width}×{img.height} pixels; the limit is "
                                           f"{MAX_IMAGE_PIXELS} pixels")
            img.load()
    except PayloadTooLargeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise PayloadTooLargeError(f"image {name!r} is too large to decode: {e}") from None
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
        raise InputError(f"image {name!r} is corrupt or not an image: {e}") from None
    return ImageOps.exif_transpose(img).convert("RGB")


def thumbnail(source: str, size: int = THUMBNAIL_SIZE) -> bytes:
    """A JPEG thumbnail of the indexed image file ``source`` (from the catalog), cached by the file's path,
    size and mtime. FileNotFoundError if the file is gone or unreadable; `PayloadTooLargeError` if even a
    reduced decode would be over `MAX_THUMBNAIL_PIXELS`."""
    path = Path(source)
    try:
        stat = path.stat()
    except OSError:
        raise FileNotFoundError(source) from None
    if not path.is_file():
        raise FileNotFoundError(source)
    key = (str(path), stat.st_size, stat.st_mtime_ns, size)
    with _cache_lock:
        cached = _cache.get(key)
        making = _making.setdefault(key, threading.Lock()) if cached is None else None
    if making is None:
        return cached
    with making:  # requests for one file wait for one decode instead of each making their own
        with _cache_lock:
            cached = _cache.get(key)
        if cached is not None:
            return cached
        try:
            with _decodes:
                cached = _render(path, size)
            with _cache_lock:
                _cache[key] = cached
        finally:
            with _cache_lock:
                _making.pop(key, None)
    return cached


def _render(path: Path, size: int) -> bytes:
    """Decode at the smallest scale the format allows (JPEG: 1/2–1/8 in the decoder), refuse what would still
    need more than `MAX_THUMBNAIL_PIXELS`, and shrink before converting, so the full-size RGB copy is never made."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit below applies instead
            with Image.open(path) as img:
                img.draft("RGB", (size, size))
                if img.width * img.height > MAX_THUMBNAIL_PIXELS:
                    raise PayloadTooLargeError(f"{path.name} is {img.width}×{img.height} pixels; thumbnails are "
                                               f"made of images up to {MAX_THUMBNAIL_PIXELS:,} pixels")
                if img.mode not in ("RGB", "RGBA", "L", "LA"):  # 1-bit, palette, 16-bit, CMYK…
                    img = img.convert("L" if img.mode == "1" else "RGBA" if "transparency" in img.info else "RGB")
                img.thumbnail((size, size), reducing_gap=2.0)  # in place, keeping the EXIF orientation
                img = ImageOps.exif_transpose(img).convert("RGB")
    except PayloadTooLargeError:
        raise
    except Image.DecompressionBombError as e:
        raise PayloadTooLargeError(f"{path.name} is too large to make a thumbnail of: {e}") from None
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
        raise FileNotFoundError(f"{path} is no longer a readable image: {e}") from None
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()

