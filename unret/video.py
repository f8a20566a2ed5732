"""Video files read into the frames a Qwen-VL model sees, sampled the way qwen-vl-utils samples them.

Qwen's reference preprocessing (qwen-vl-utils ``fetch_video``) keeps ``fps`` frames per second of the clip
(default 2), at least ``min_frames`` (4) and at most ``max_frames`` (768), an even number of them (two
frames make one temporal patch), spread evenly over the clip (``linspace`` from the first to the last frame,
rounded); the model is told the rate of the kept frames, which spaces their temporal positions. unret counts
frames with that same rule (``qwen_vl_utils.smart_nframes``) and decodes with PyAV, a self-contained FFmpeg
wheel: torchvision's ``read_video``, qwen-vl-utils' fallback, is gone since torchvision 0.26, and decord /
torchcodec are not always installable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from unret.errors import InputError
from unret.items import Item

FPS = 2.0  # qwen-vl-utils' defaults
MIN_FRAMES = 4
MAX_FRAMES = 768
FRAME_FACTOR = 2  # frames per temporal patch


class VideoReadError(OSError):
    """A file PyAV cannot open or decode as a video (``items`` turns it into an `InputError` naming it)."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video's header says: frame count, frame rate and frame size."""

    frames: int
    fps: float
    width: int
    height: int


@dataclass(frozen=True)
class Clip:
    """Frames a model reads: RGB images, their rate (frames per second kept) and each frame's time (s)."""

    frames: list[Image.Image]
    fps: float
    times: list[float]


@dataclass(frozen=True)
class Sampling:
    """How many frames of a clip a model reads: ``fps`` per second within ``[min_frames, max_frames]``, or
    exactly ``nframes`` (qwen-vl-utils' two modes)."""

    fps: float = FPS
    min_frames: int = MIN_FRAMES
    max_frames: int = MAX_FRAMES
    nframes: int | None = None

    def __post_init__(self) -> None:
        if self.fps <= 0:
            raise ValueError(f"video fps must be positive, got {self.fps}")
        if self.max_frames < FRAME_FACTOR or self.min_frames < 1:
            raise ValueError(f"video max_frames must be >= {FRAME_FACTOR} and min_frames >= 1, got "
                             f"{self.max_frames} / {self.min_frames}")
        if self.nframes is not None and self.nframes < 1:
            raise ValueError(f"video nframes must be >= 1, got {self.nframes}")


def _open(path: Path):
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoReadError(f"not a readable video: {exc}") from None
    if not container.streams.video:
        container.close()
        raise VideoReadError("the file holds no video stream")
    return container


def probe(path: str | Path) -> VideoInfo:
    """The header of a video file, without decoding frames (counted by decoding only if the header lacks it)."""
    with _open(Path(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(FPS)
        frames = stream.frames
        if not frames:  # some containers (webm, some mkv) do not store it
            frames = sum(1 for _ in container.decode(video=0))
        if not frames:
            raise VideoReadError("the video stream has no frames")
        return VideoInfo(int(frames), float(rate), stream.codec_context.width, stream.codec_context.height)


def first_frame(path: str | Path) -> Image.Image:
    """The first frame of a video file as an RGB image (what a thumbnail shows)."""
    with _open(Path(path)) as container:
        try:
            frame = next(container.decode(video=0), None)
        except Exception as exc:  # av.error.* (a corrupt stream)
            raise VideoReadError(f"decoding failed: {exc}") from None
    if frame is None:
        raise VideoReadError("the video stream has no frames")
    return frame.to_image().convert("RGB")


def sample_indices(total_frames: int, video_fps: float, sampling: Sampling) -> list[int]:
    """The frames qwen-vl-utils keeps of a ``total_frames`` clip at ``video_fps`` (a clip of one frame: that one)."""
    from qwen_vl_utils.vision_process import smart_nframes

    if total_frames < FRAME_FACTOR:
        return list(range(total_frames))
    if sampling.nframes is not None:
        ele = {"nframes": min(sampling.nframes, total_frames)}
    else:
        ele = {"fps": sampling.fps, "min_frames": sampling.min_frames,
               "max_frames": min(sampling.max_frames, total_frames)}
    count = smart_nframes(ele, total_frames=total_frames, video_fps=video_fps)
    return np.linspace(0, total_frames - 1, count).round().astype(int).tolist()


def read_frames(path: str | Path, sampling: Sampling) -> Clip:
    """The sampled frames of a video file as RGB images, their rate and times (seconds into the file)."""
    info = probe(path)
    indices = sample_indices(info.frames, info.fps, sampling)
    wanted, frames = set(indices), {}
    with _open(Path(path)) as container:
        try:
            for i, frame in enumerate(container.decode(video=0)):
                if i in wanted:
                    frames[i] = frame.to_image().convert("RGB")
                if i >= indices[-1]:
                    break
        except Exception as exc:  # av.error.* (a truncated or corrupt stream)
            raise VideoReadError(f"decoding failed at frame {len(frames)}: {exc}") from None
    if not frames:
        raise VideoReadError("no frame could be decoded")
    # A stream shorter than its header says: repeat the last frame decoded, as a reader padding the clip would.
    last = frames[max(frames)]
    kept = [frames.get(i, last) for i in indices]
    return Clip(kept, len(indices) / info.frames * info.fps, [i / info.fps for i in indices])


def video_item(video: Any, fps: Any, position: int | None, source: str | None = None) -> Item:
    """A video `Item` from a file path (its header read now) or a list of same-size PIL frames."""
    if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0):
        raise _bad(position, f"video fps must be a positive number, got {fps!r}")
    if isinstance(video, (str, Path)):
        path = Path(video).expanduser()
        if not path.is_file():
            raise _bad(position, f"video file not found: {video}")
        try:  # reads the header only: catches non-videos now
            info = probe(path)
        except VideoReadError as exc:
            raise _bad(position, f"corrupt or unreadable video {video}: {exc}") from None
        return Item("video", video=path, source=source or str(path), size=(info.width, info.height))
    if isinstance(video, Sequence) and not isinstance(video, (str, bytes)):
        frames = tuple(video)
        if not frames:
            raise _bad(position, "a video needs at least one frame, got an empty list")
        bad = next((i for i, f in enumerate(frames) if not isinstance(f, Image.Image)), None)
        if bad is not None:
            raise _bad(position, f"video frame #{bad} must be a PIL image, got {type(frames[bad]).__name__}")
        sizes = {f.size for f in frames}
        if len(sizes) > 1:
            raise _bad(position, f"video frames must all have one size, got {sorted(sizes)}")
        return Item("video", video=frames, fps=float(fps) if fps else None, source=source, size=frames[0].size)
    raise _bad(position, f"a video must be a video file path or a list of PIL frames, got {type(video).__name__}")


def _bad(position: int | None, message: str) -> InputError:
    return InputError(f"{'input' if position is None else f'input #{position}'}: {message}", position)


def write_video(path: str | Path, frames: list[Image.Image], fps: float = FPS, codec: str = "libx264rgb") -> Path:
    """Write frames to a video file (lossless by default): test clips and examples."""
    import av

    path = Path(path)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = frames[0].size
        stream.pix_fmt = "rgb24" if codec in ("libx264rgb", "png", "ffv1") else "yuv420p"
        if codec == "libx264rgb":
            stream.options = {"qp": "0"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_image(image.convert("RGB"))):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
