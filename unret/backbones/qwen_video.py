"""Videos for Qwen-VL: sampled frames → ``pixel_values_videos``, ``video_grid_thw`` and the clip's time.

A clip sits in one user turn where the chat template puts ``<|vision_start|><|video_pad|><|vision_end|>``:
frames are sampled as qwen-vl-utils samples them (`unret.video`), then the checkpoint's own video processor
resizes them once within the video pixel budget (per frame ``min_pixels``..``max_pixels``, capped so the clip
fits the model's context as qwen-vl-utils caps it), normalises them and groups every two frames into one
temporal patch. Frames given as a list are read as they are, as qwen-vl-utils reads them. Time reaches
Qwen2.5-VL as the seconds per temporal patch that space its mRoPE temporal positions
(``second_per_grid_ts``), and Qwen3-VL as ``<t seconds>`` text before each patch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from unret.items import Item
from unret.video import FPS, MAX_FRAMES, MIN_FRAMES, Sampling

SETTINGS = ("video_fps", "video_max_frames", "video_min_pixels", "video_max_pixels")


@dataclass(frozen=True)
class VideoSettings:
    """How a Qwen-VL backbone reads a clip: frames per second kept, at most how many, pixels per frame."""

    fps: float = FPS
    max_frames: int = MAX_FRAMES
    min_pixels: int = 128 * 28 * 28  # qwen-vl-utils' per-frame bounds (128 and 768 tokens)
    max_pixels: int = 768 * 28 * 28

    @classmethod
    def for_processor(cls, video_processor: Any, video_fps: float | None = None,
                      video_max_frames: int | None = None, video_min_pixels: int | None = None,
                      video_max_pixels: int | None = None) -> VideoSettings:
        """Settings given, else the checkpoint's video processor's pixel bounds and qwen-vl-utils' sampling."""
        size = getattr(video_processor, "size", None) or {}
        settings = cls(fps=float(video_fps or FPS), max_frames=int(video_max_frames or MAX_FRAMES),
                       min_pixels=int(video_min_pixels or size.get("shortest_edge") or cls.min_pixels),
                       max_pixels=int(video_max_pixels or size.get("longest_edge") or cls.max_pixels))
        if settings.min_pixels > settings.max_pixels:
            raise ValueError(f"video_min_pixels ({settings.min_pixels}) must not exceed video_max_pixels "
                             f"({settings.max_pixels})")
        settings.sampling()  # checks fps and max_frames
        return settings

    def sampling(self) -> Sampling:
        return Sampling(fps=self.fps, min_frames=min(MIN_FRAMES, self.max_frames), max_frames=self.max_frames)

    def config(self) -> dict[str, Any]:
        return {"video_fps": self.fps, "video_max_frames": self.max_frames, "video_min_pixels": self.min_pixels,
                "video_max_pixels": self.max_pixels}


def video_inputs(processor: Any, items: Sequence[Item], positions: Sequence[int], settings: VideoSettings,
                 timestamps: bool = False) -> tuple[dict[str, torch.Tensor], list[int | list[int]]]:
    """The processor inputs for the videos among ``items`` (in order) and what fills each video's slot.

    The fill is a number of ``<|video_pad|>`` tokens (Qwen2-VL, Qwen2.5-VL), or with ``timestamps`` (Qwen3-VL)
    the token ids of every temporal patch as ``<t seconds><|vision_start|>pads<|vision_end|>``, t the mean
    time of its frames, as transformers' Qwen3-VL processor lays a clip out.
    """
    clips = []
    sampling = settings.sampling()
    for item, position in zip(items, positions, strict=True):
        if item.has_video:
            clips.append(item.load_video(position, sampling))
    if not clips:
        return {}, []
    video_processor = processor.video_processor
    out = video_processor(videos=[clip.frames for clip in clips], do_sample_frames=False, do_resize=True,
                          cap_pixels_per_frame=True, return_tensors="pt",
                          size={"shortest_edge": settings.min_pixels, "longest_edge": settings.max_pixels})
    grid = out["video_grid_thw"]  # (num_videos, 3): temporal patches, height and width in patches
    temporal_patch = video_processor.temporal_patch_size
    batch = {
        "pixel_values_videos": out["pixel_values_videos"],  # (total_patches, channels * patch_volume)
        "video_grid_thw": grid,
        "second_per_grid_ts": torch.tensor([temporal_patch / clip.fps for clip in clips], dtype=torch.float32),
    }
    per_patch = (grid[:, 1:].prod(-1) // video_processor.merge_size**2).tolist()  # tokens per temporal patch
    if not timestamps:
        return batch, [n * int(t) for n, t in zip(per_patch, grid[:, 0].tolist(), strict=True)]
    return batch, [_timestamped(processor, clip.times, n, temporal_patch) for clip, n in zip(clips, per_patch,
                                                                                            strict=True)]


def _timestamped(processor: Any, times: list[float], tokens_per_patch: int, temporal_patch: int) -> list[int]:
    times = times + [times[-1]] * (-len(times) % temporal_patch)  # the last frame repeats, as in patchify
    tokenizer = processor.tokenizer
    start = tokenizer.convert_tokens_to_ids(getattr(processor, "vision_start_token", "<|vision_start|>"))
    end = tokenizer.convert_tokens_to_ids(getattr(processor, "vision_end_token", "<|vision_end|>"))
    ids: list[int] = []
    for k in range(0, len(times), temporal_patch):
        seconds = (times[k] + times[k + temporal_patch - 1]) / 2
        ids += tokenizer(f"<{seconds:.1f} seconds>", add_special_tokens=False)["input_ids"]
        ids += [start, *([processor.video_token_id] * tokens_per_patch), end]
    return ids
