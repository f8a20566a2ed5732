"""Video inputs (unret.items.Video, unret.video): validation, qwen-vl-utils' frame sampling, decoding, keys."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from PIL import Image

from unret.errors import InputError
from unret.items import Video, to_item, to_items
from unret.keys import item_key
from unret.video import Sampling, first_frame, probe, read_frames, sample_indices, write_video


def frames(n: int, size: tuple[int, int] = (84, 56), seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)) for _ in range(n)]


def expected_indices(total: int, video_fps: float, fps: float = 2.0, min_frames: int = 4,
                     max_frames: int = 768) -> list[int]:
    """qwen-vl-utils' rule written out: fps frames a second within [min, max], even, spread first → last."""
    floor2, ceil2 = (lambda x: math.floor(x / 2) * 2), (lambda x: math.ceil(x / 2) * 2)
    n = min(max(total / video_fps * fps, ceil2(min_frames)), floor2(min(max_frames, total)), total)
    n = floor2(n)
    return [round(x) for x in np.linspace(0, total - 1, n)]


@pytest.mark.parametrize(("total", "video_fps", "fps", "max_frames"),
                         [(300, 30.0, 2.0, 768), (30, 10.0, 2.0, 768), (7, 2.0, 2.0, 768), (1000, 25.0, 2.0, 16),
                          (6, 2.0, 1.0, 768), (50, 5.0, 4.0, 768)])
def test_frames_are_sampled_as_qwen_vl_utils_samples(total, video_fps, fps, max_frames):
    got = sample_indices(total, video_fps, Sampling(fps=fps, max_frames=max_frames))
    assert got == expected_indices(total, video_fps, fps, max_frames=max_frames)
    assert len(got) % 2 == 0 and got[0] == 0 and got[-1] == total - 1


def test_nframes_and_one_frame_clips():
    assert sample_indices(300, 30.0, Sampling(nframes=5)) == [round(x) for x in np.linspace(0, 299, 4)]
    assert sample_indices(1, 30.0, Sampling()) == [0]  # nothing to sample: the processor pads it


def test_a_lossless_file_reads_back_the_frames_written(tmp_path):
    clip = frames(30, seed=3)
    path = write_video(tmp_path / "clip.mp4", clip, fps=10)
    info = probe(path)
    assert (info.frames, info.fps, info.width, info.height) == (30, 10.0, 84, 56)
    clip_read = read_frames(path, Sampling())
    idx = expected_indices(30, 10.0)
    assert len(clip_read.frames) == len(idx) == 6 and clip_read.fps == pytest.approx(6 / 30 * 10)
    assert clip_read.times == pytest.approx([i / 10 for i in idx])
    for frame, i in zip(clip_read.frames, idx, strict=True):
        np.testing.assert_array_equal(np.asarray(frame), np.asarray(clip[i]))
    np.testing.assert_array_equal(np.asarray(first_frame(path)), np.asarray(clip[0]))


def test_video_items_from_files_frames_strings_and_dicts(tmp_path):
    path = write_video(tmp_path / "clip.mp4", frames(4), fps=2)
    for given in (Video(path), Video(str(path)), path, str(path), {"video": str(path)}):
        item = to_item(given)
        assert item.modality == "video" and item.video == path and item.source == str(path)
        assert item.size == (84, 56) and not item.has_image
    item = to_item(Video(frames(3), fps=5))
    assert item.modality == "video" and len(item.video) == 3 and item.fps == 5.0
    assert to_item({"video": frames(2), "fps": 4}).fps == 4.0
    items, single = to_items(Video(frames(2)))
    assert single and items[0].modality == "video"
    loaded = to_item(Video(frames(3))).load_video()
    assert len(loaded.frames) == 3 and loaded.fps == 2.0  # qwen-vl-utils' rate for frames given without one
    assert loaded.times == [0.0, 0.5, 1.0]


@pytest.mark.parametrize(("given", "message"), [
    (Video([]), "at least one frame"),
    (Video([Image.new("RGB", (8, 8)), "frame.png"]), "video frame #1 must be a PIL image"),
    (Video([*frames(1, (8, 8)), *frames(1, (9, 8))]), "must all have one size"),
    (Video(frames(2), fps=0), "fps must be a positive number"),
    (Video("missing.mp4"), "video file not found: missing.mp4"),
    (Video(42), "a video must be a video file path or a list of PIL frames"),
    ({"video": frames(2), "text": "a caption"}, "takes no 'text'"),
])
def test_bad_videos_are_named(given, message):
    with pytest.raises(InputError, match=message) as caught:
        to_items(["fine", given])
    assert caught.value.position == 1 and "input #1" in str(caught.value)


def test_a_corrupt_video_file_is_named(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 but nothing else")
    with pytest.raises(InputError, match=r"corrupt or unreadable video .*broken\.mp4"):
        to_item(bad, 3)


def test_content_keys_follow_video_content_not_paths(tmp_path):
    clip = frames(4)
    a = write_video(tmp_path / "a.mp4", clip, fps=2)
    b = tmp_path / "copy.mp4"
    shutil.copy(a, b)
    other = write_video(tmp_path / "other.mp4", frames(4, seed=9), fps=2)
    assert item_key(to_item(a)) == item_key(to_item(b)) != item_key(to_item(other))
    assert item_key(to_item(Video(clip, fps=2))) == item_key(to_item(Video(list(clip), fps=2)))
    assert item_key(to_item(Video(clip, fps=2))) != item_key(to_item(Video(clip, fps=1)))
    assert item_key(to_item(Video(clip))) != item_key(to_item(clip[0]))  # a one-frame clip is not the image
