"""Images over HTTP: decode uploads defensively, and make thumbnails only of files that are in the index.

An upload is untrusted: its size is capped before decoding, its pixel count before the pixels are
allocated (a 40 kB PNG can declare 10⁹ pixels), and anything PIL cannot decode is a 400, not a crash.
A thumbnail is looked up by the *id* of an indexed image; the file read is the one recorded in the
catalog when the image was indexed, never a path from the request, so ``../`` in a URL cannot reach other
files.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from unret.errors import InputError

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000
THUMBNAIL_SIZE = 256


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
    """A JPEG thumbnail of the indexed image file ``source`` (from the catalog); FileNotFoundError if gone."""
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(source)
    try:
        with Image.open(path) as img:
            img.draft("RGB", (size, size))
            img = ImageOps.exif_transpose(img).convert("RGB")
            img.thumbnail((size, size))
    except (OSError, UnidentifiedImageError, SyntaxError) as e:
        raise FileNotFoundError(f"{source} is no longer a readable image: {e}") from None
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()
