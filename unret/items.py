"""Items: what users hand unret, normalised into one small typed record per input.

Everything downstream (prompts, backbones, the index, training data) speaks ``Item``; this module is the
only place that guesses what a user meant. The rules, in order:

* an ``Item`` is kept as it is; ``Code(...)`` is code; ``Text(...)`` is text, even if it looks like a path;
* a ``PIL.Image.Image`` is an image; a ``(image, text)`` tuple is an image with text;
* ``Video(path_or_frames, fps=…)`` is a video: a video file, or a list of PIL frames taken ``fps`` times a
  second (default 2, qwen-vl-utils' default);
* a ``pathlib.Path`` is a file: images, videos and code by extension (code with its language), anything
  else is read as text;
* a ``str`` that is a single token ending in a known image/video/code/document extension is a file path
  (it must exist); any other ``str`` is text;
* a ``dict`` uses the training-data keys: ``{"text": …}``, ``{"code": …, "language": …}``,
  ``{"image": path-or-PIL, "text": …}``, ``{"video": path-or-frames, "fps": …}``.

Bad input raises `InputError` naming the input's position and what is wrong with it.

An `ItemSpec` is the declarative, file-backed form of an item that data sets hold (``Text``, ``Code``, an
image ``Path`` or an ``(image Path, text)`` pair): a ready input for `to_item`, cheap to keep by the
million, and what `unret.formats` reads records into and writes records from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import charset_normalizer
from PIL import Image, ImageOps, UnidentifiedImageError

from unret.errors import InputError

Modality = Literal["text", "code", "image", "image+text", "video"]
MODALITIES: tuple[str, ...] = ("text", "code", "image", "image+text", "video")

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg"})
CODE_LANGUAGES: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".tsx": "typescript", ".java": "java", ".kt": "kotlin", ".scala": "scala",
    ".go": "go", ".rs": "rust", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp",
    ".hpp": "cpp", ".cs": "csharp", ".rb": "ruby", ".php": "php", ".swift": "swift", ".m": "objective-c",
    ".sh": "shell", ".bash": "shell", ".sql": "sql", ".r": "r", ".jl": "julia", ".lua": "lua",
    ".pl": "perl", ".hs": "haskell", ".ml": "ocaml", ".ex": "elixir", ".erl": "erlang", ".dart": "dart",
}
TEXT_EXTENSIONS = frozenset({".txt", ".md", ".rst", ".markdown", ".text", ".adoc", ".org", ".tex", ".html"})
_EXIF_ORIENTATION = 0x0112
_PATH_LIKE = re.compile(r"^\S+\.[A-Za-z0-9]{1,10}$")


@dataclass(frozen=True)
class Code:
    """Marks a string as source code (optionally with its language), never as prose or a path."""

    text: str
    language: str | None = None


@dataclass(frozen=True)
class Text:
    """Marks a string as text even when it looks like a file path (``Text("setup.py")``)."""

    text: str


@dataclass(frozen=True, eq=False)
class Video:
    """Marks a video: a video file path, or a list of PIL frames taken ``fps`` times a second.

    A file is sampled when it is embedded (the model's ``video_fps`` / ``video_max_frames`` settings, as
    qwen-vl-utils samples); frames given as a list are all read, as qwen-vl-utils and sentence-transformers
    read them. ``fps`` of a file is ignored: the file says its own rate.
    """

    source: str | Path | Sequence[Image.Image]
    fps: float | None = None


ItemSpec = Text | Code | Path | tuple[Path, str]


def spec_modality(spec: ItemSpec) -> str:
    """The modality unret will embed the spec as."""
    if isinstance(spec, Code):
        return "code"
    if isinstance(spec, Text):
        return "text"
    if isinstance(spec, tuple):
        return "image+text"
    if isinstance(spec, Path):
        return "image"
    raise TypeError(f"not an item spec: {spec!r}")


def spec_text(spec: ItemSpec) -> str:
    """The spec's text (code counts as text; a bare image has none): what a lexical retriever reads."""
    if isinstance(spec, (Text, Code)):
        return spec.text
    if isinstance(spec, tuple):
        return spec[1]
    return ""


@dataclass(frozen=True, eq=False)
class Item:
    """One normalised input: text, code, an image, an image with text, or a video.

    ``image`` is a ``PIL.Image.Image`` or a path that is decoded only when the item is embedded, so large
    corpora of image paths cost no memory up front; ``video`` likewise is a video file path or a tuple of
    frames (``fps``: their rate). ``source`` records where the item came from (a file path) for error
    messages and index metadata.
    """

    modality: Modality
    text: str | None = None
    image: Image.Image | Path | None = None
    language: str | None = None
    source: str | None = None
    size: tuple[int, int] | None = field(default=None, repr=False)  # (width, height) of the image / frames
    video: Path | tuple[Image.Image, ...] | None = field(default=None, repr=False)
    fps: float | None = None  # frames per second of a video given as frames

    @property
    def has_image(self) -> bool:
        return self.image is not None

    @property
    def has_video(self) -> bool:
        return self.video is not None

    def load_video(self, position: int | None = None, sampling: Any = None) -> Any:
        """The video's frames as upright RGB images, their rate and times (a `unret.video.Clip`).

        A file is sampled as ``sampling`` (a `unret.video.Sampling`) says; a corrupt or unreadable file
        raises `InputError` naming it. Frames given as a list are returned as they are.
        """
        if self.video is None:
            raise _bad(position, f"{self.modality} item has no video")
        from unret.video import FPS, Clip, Sampling, VideoReadError, read_frames

        if not isinstance(self.video, Path):
            fps = self.fps or FPS
            return Clip([_to_rgb(frame) for frame in self.video], fps, [i / fps for i in range(len(self.video))])
        try:
            return read_frames(self.video, sampling or Sampling())
        except FileNotFoundError:
            raise _bad(position, f"video file not found: {self.video}") from None
        except VideoReadError as exc:
            raise _bad(position, f"corrupt or unreadable video {self.video}: {exc}") from None

    def load_image(self, position: int | None = None,
                   fit: Callable[[int, int], tuple[int, int] | None] | None = None) -> Image.Image:
        """The decoded, upright RGB image; a truncated or corrupt file raises `InputError` naming it.

        ``fit(width, height)`` tells the size the caller will resize the image to: a JPEG file is then
        decoded at the smallest 1/2, 1/4 or 1/8 scale still at least that large (libjpeg's DCT scaling,
        as PIL's ``thumbnail`` does) — several times less work for photos bound for a smaller size.
        """
        if self.image is None:
            raise _bad(position, f"{self.modality} item has no image")
        if isinstance(self.image, Image.Image):
            return _to_rgb(self.image)
        try:
            with Image.open(self.image) as img:
                if fit is not None and img.format == "JPEG":
                    _draft(img, fit)
                img.load()
                return _to_rgb(img)
        except FileNotFoundError:
            raise _bad(position, f"image file not found: {self.image}") from None
        except (OSError, UnidentifiedImageError, SyntaxError, Image.DecompressionBombError) as exc:
            raise _bad(position, f"corrupt or unreadable image {self.image}: {exc}") from None

    def length_hint(self) -> int:
        """A cheap token-count estimate used to sort inputs into similar-length batches."""
        n = len(self.text) // 4 if self.text else 0
        if self.size is not None:
            n += (self.size[0] * self.size[1]) // (28 * 28) * (2 if self.has_video else 1)  # >= 2 temporal patches
        return n


def _where(position: int | None) -> str:
    return "input" if position is None else f"input #{position}"


def _bad(position: int | None, message: str) -> InputError:
    return InputError(f"{_where(position)}: {message}", position)


def _draft(img: Image.Image, fit: Callable[[int, int], tuple[int, int] | None]) -> None:
    width, height = img.size
    sideways = img.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8)  # stored rotated by 90°
    target = fit(height, width) if sideways else fit(width, height)  # fit sees the upright size
    if target is not None:
        img.draft(None, (target[1], target[0]) if sideways else target)


def _to_rgb(img: Image.Image) -> Image.Image:
    """Upright RGB: the EXIF orientation applied (phone photos are stored sideways with a rotation tag,
    and a path and ``Image.open(path)`` must embed alike), transparent regions on white (as qwen-vl-utils
    does), so alpha never turns black."""
    if img.getexif().get(_EXIF_ORIENTATION, 1) != 1:
        img = ImageOps.exif_transpose(img)
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    return img.convert("RGB") if img.mode != "RGB" else img


def _check_text(text: Any, position: int | None, what: str = "text") -> str:
    if not isinstance(text, str):
        raise _bad(position, f"{what} must be a string, got {type(text).__name__}")
    if not text.strip():
        raise _bad(position, f"empty {what} ({text!r}); nothing to embed")
    return text


def _image_item(image: Any, text: str | None, position: int | None, source: str | None = None) -> Item:
    modality: Modality = "image" if text is None else "image+text"
    if text is not None:
        _check_text(text, position)
    if isinstance(image, Image.Image):
        return Item(modality, text=text, image=image, source=source, size=image.size)
    if isinstance(image, (str, Path)):
        path = Path(image).expanduser()
        if not path.is_file():
            raise _bad(position, f"image file not found: {image}")
        try:  # reads the header only: catches non-images now, truncated data when decoded
            with Image.open(path) as img:
                size = img.size
        except (OSError, UnidentifiedImageError, SyntaxError, Image.DecompressionBombError) as exc:
            raise _bad(position, f"corrupt or unreadable image {image}: {exc}") from None
        return Item(modality, text=text, image=path, source=source or str(path), size=size)
    raise _bad(position, f"image must be a PIL image or a path, got {type(image).__name__}")


def _video_item(video: Any, fps: Any, position: int | None, source: str | None = None) -> Item:
    from unret.video import video_item  # PyAV is imported only when videos are given

    return video_item(video, fps, position, source)


def _file_item(path: Path, position: int | None) -> Item:
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return _image_item(path, None, position)
    if suffix in VIDEO_EXTENSIONS:
        return _video_item(path, None, position)
    if not path.is_file():
        raise _bad(position, f"file not found: {path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _bad(position, f"cannot read {path}: {exc}") from None
    content = _decode_text(data)
    if content is None:
        raise _bad(position, f"{path} is not a text, code or image file (binary, or no text encoding fits)")
    _check_text(content, position, what=f"file {path}")
    if suffix in CODE_LANGUAGES:
        return Item("code", text=content, language=CODE_LANGUAGES[suffix], source=str(path))
    return Item("text", text=content, source=str(path))


def _decode_text(data: bytes) -> str | None:
    """UTF-8 (a BOM dropped) or, failing that, the encoding charset-normalizer finds (latin-1/cp1252
    comments in C sources, Shift-JIS, UTF-16…); ``None`` for binary data."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        best = charset_normalizer.from_bytes(data).best()
        text = None if best is None else str(best)
    return None if text is None or "\x00" in text else text


def looks_like_path(text: str) -> bool:
    """A single token with a known file extension: ``chart.png``, ``src/utils.py``, ``docs/intro.md``."""
    if len(text) > 4096 or not _PATH_LIKE.match(text):
        return False
    suffix = Path(text).suffix.lower()
    return any(suffix in known for known in (IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, CODE_LANGUAGES, TEXT_EXTENSIONS))


def to_item(obj: Any, position: int | None = None) -> Item:
    """Normalise one user input into an `Item` (rules in the module docstring)."""
    if isinstance(obj, Item):
        return obj
    if isinstance(obj, Code):
        return Item("code", text=_check_text(obj.text, position, "code"), language=obj.language)
    if isinstance(obj, Text):
        return Item("text", text=_check_text(obj.text, position))
    if isinstance(obj, Video):
        return _video_item(obj.source, obj.fps, position)
    if isinstance(obj, Image.Image):
        return _image_item(obj, None, position)
    if isinstance(obj, Path):
        return _file_item(obj, position)
    if isinstance(obj, str):
        if looks_like_path(obj.strip()):
            return _file_item(Path(obj.strip()).expanduser(), position)
        return Item("text", text=_check_text(obj, position))
    if _is_image_text_pair(obj):
        image, text = obj
        if isinstance(image, str) and isinstance(text, (Image.Image, Path)):
            image, text = text, image  # accept (text, image) too
        return _image_item(image, text, position)
    if isinstance(obj, dict):
        return _dict_item(obj, position)
    raise _bad(
        position,
        f"cannot embed an object of type {type(obj).__name__}; pass a str, Code(...), "
        "a PIL image, Video(...), an image/video/code/text file path, an (image, text) tuple or a dict"
    )


def _dict_item(obj: dict, position: int | None) -> Item:
    unknown = set(obj) - {"text", "code", "language", "image", "video", "fps", "source"}
    if unknown:
        raise _bad(position, f"unknown keys {sorted(unknown)} in {obj!r}")
    if "video" in obj:
        if "text" in obj or "image" in obj:
            raise _bad(position, "a video item takes no 'text' or 'image' (video with text is not supported)")
        return _video_item(obj["video"], obj.get("fps"), position, source=obj.get("source"))
    if "image" in obj:
        return _image_item(obj["image"], obj.get("text"), position, source=obj.get("source"))
    if "code" in obj:
        code = _check_text(obj["code"], position, "code")
        return Item("code", text=code, language=obj.get("language"), source=obj.get("source"))
    if "text" in obj:
        return Item("text", text=_check_text(obj["text"], position), source=obj.get("source"))
    raise _bad(position, f"dict input needs a 'text', 'code', 'image' or 'video' key, got {obj!r}")


def _is_image_text_pair(obj: Any) -> bool:
    if not (isinstance(obj, tuple) and len(obj) == 2):
        return False
    return any(isinstance(x, (Image.Image, Path)) or (isinstance(x, str) and looks_like_path(x)) for x in obj)


def to_items(inputs: Iterable[Any] | Any) -> tuple[list[Item], bool]:
    """Normalise a single input or an iterable of inputs; returns (items, was_single)."""
    single_types = (str, Item, Code, Text, Video, Image.Image, Path, dict)
    if isinstance(inputs, single_types) or _is_image_text_pair(inputs) or not isinstance(inputs, Iterable):
        return [to_item(inputs, 0)], True
    items = [to_item(obj, i) for i, obj in enumerate(inputs)]
    if not items:
        raise InputError("no inputs given (empty list)")
    return items, False
