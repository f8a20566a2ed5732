"""Content keys: the one rule for "these inputs embed the same", used by every cache and fingerprint.

An input's key hashes what decides its vector: modality, language, text and the image's or video's
*content* (file bytes, or mode, size and pixels for in-memory images and frames), never its path or
timestamp, so a copied file still hits and an edited one never does. Fields are length-prefixed before hashing, so
``("ab", "c")`` and ``("a", "bc")`` differ. The embedding cache of frozen backbones
(`unret.backbones.cache`) keys items this way, and evaluation keys whole corpora this way.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from PIL import Image

from unret.items import Code, Item, ItemSpec, spec_modality, spec_text


def _frame(s: str) -> bytes:
    b = s.encode("utf-8", "surrogatepass")
    return len(b).to_bytes(8, "little") + b


def content_digest(data: bytes) -> str:
    """sha256 of bytes already read: the same value `file_digest` gives for a file holding them."""
    return hashlib.sha256(data).hexdigest()


@functools.lru_cache(maxsize=65536)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes; remembered per (path, size, mtime) so a training epoch reads each once."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return _file_digest(str(resolved), stat.st_size, stat.st_mtime_ns)


def image_digest(image: Image.Image | str | os.PathLike | None) -> str:
    """The content hash of an image ('' for none): file bytes for a path, mode/size/pixels in memory."""
    if image is None:
        return ""
    if isinstance(image, Image.Image):
        h = hashlib.sha256(f"{image.mode}{image.size}".encode())
        h.update(image.tobytes())
        return h.hexdigest()
    return file_digest(image)


def video_digest(video: Path | tuple[Image.Image, ...] | None, fps: float | None = None) -> str:
    """The content hash of a video ('' for none): file bytes, or every frame's pixels and their rate."""
    if video is None:
        return ""
    if isinstance(video, (str, os.PathLike)):
        return file_digest(video)
    h = hashlib.sha256(_frame(repr(fps)))
    for frame in video:
        h.update(image_digest(frame).encode())
    return h.hexdigest()


def _content(modality: str, language: str | None, text: str | None, image: str) -> bytes:
    return b"".join(_frame(part) for part in (modality, language or "", text or "", image))


def item_key(item: Item, context: Iterable[str | None] = ()) -> str:
    """The key of one item as embedded under ``context`` (e.g. role and instruction)."""
    h = hashlib.sha256(b"".join(_frame(c or "") for c in context))
    media = image_digest(item.image) if item.video is None else video_digest(item.video, item.fps)
    h.update(_content(item.modality, item.language, item.text, media))
    return h.hexdigest()


def spec_image(spec: ItemSpec) -> Path | None:
    """The image file of a spec, if it has one."""
    if isinstance(spec, Path):
        return spec
    return Path(spec[0]) if isinstance(spec, tuple) else None


def corpus_fingerprint(corpus: Mapping[str, ItemSpec]) -> str:
    """sha256 over the sorted (id, content) pairs: equal iff the corpus embeds equally, in any line order."""
    h = hashlib.sha256()
    for doc_id in sorted(corpus):
        spec = corpus[doc_id]
        language = spec.language if isinstance(spec, Code) else None
        h.update(_frame(doc_id))
        h.update(_content(spec_modality(spec), language, spec_text(spec), image_digest(spec_image(spec))))
    return h.hexdigest()
