"""Thumbnails of indexed videos: the first frame of the file recorded in the catalog, as a JPEG.

Like image thumbnails (`unret.serve.images`), the file read is the one the catalog recorded when the video
was indexed, never a path from the request.
"""

from __future__ import annotations

import io
from pathlib import Path

from unret.serve.images import THUMBNAIL_SIZE
from unret.video import VideoReadError, first_frame


def video_thumbnail(source: str, size: int = THUMBNAIL_SIZE) -> bytes:
    """A JPEG thumbnail of the first frame of the indexed video file ``source``; FileNotFoundError if gone."""
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(source)
    try:
        frame = first_frame(path)
    except VideoReadError as e:
        raise FileNotFoundError(f"{source} is no longer a readable video: {e}") from None
    frame.thumbnail((size, size))
    out = io.BytesIO()
    frame.save(out, "JPEG", quality=85)
    return out.getvalue()
