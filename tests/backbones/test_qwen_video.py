"""Videos through Qwen-VL backbones: one vector per clip, independent of batch-mates, the same from a file
as from its sampled frames, timed by the frame rate; text-only models refuse them by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import random_image
from tests.test_video import expected_indices, frames
from unret import Code, UnifiedRetriever
from unret.errors import InputError
from unret.items import Video, to_item
from unret.video import write_video

TOL = 1e-4


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    """30 lossless frames at 10 fps: qwen-vl-utils keeps 6 of them (2 a second)."""
    clip = frames(30, seed=5)
    return write_video(tmp_path_factory.mktemp("video") / "clip.mp4", clip, fps=10), clip


def test_a_file_embeds_as_its_sampled_frames_at_their_rate(tiny_vl, clip_file):
    path, clip = clip_file
    kept = [clip[i] for i in expected_indices(30, 10.0)]
    from_file = tiny_vl.encode_documents(Video(path))
    from_frames = tiny_vl.encode_documents(Video(kept, fps=len(kept) / 30 * 10))
    torch.testing.assert_close(from_file, from_frames, atol=1e-5, rtol=0)
    # The rate is not decoration: Qwen2.5-VL spaces a clip's temporal positions by seconds per patch.
    slower = tiny_vl.encode_documents(Video(kept, fps=0.5))
    assert (from_frames - slower).abs().max() > 1e-4


def test_video_batches_carry_video_tokens_and_times(tiny_vl, clip_file):
    path, _ = clip_file
    backbone = tiny_vl.backbone
    batch = backbone.prepare([to_item("a caption"), to_item(Video(path)), to_item(random_image(56, 56))])
    grid = batch["video_grid_thw"]
    assert grid.tolist()[0][0] == 3  # 6 frames, two per temporal patch
    video_tokens = int((batch["input_ids"][1] == backbone.video_token_id).sum())
    assert video_tokens == int(grid.prod()) // backbone.merge_size**2
    assert (batch["mm_token_type_ids"][1] == 2).sum() == video_tokens
    assert batch["second_per_grid_ts"].tolist() == [pytest.approx(2 / 2.0)]  # 2 frames a patch at 2 fps


def test_batch_size_invariance_with_videos_texts_code_and_images(tiny_vl, clip_file):
    path, _ = clip_file
    inputs = ["a short text", Video(path), random_image(84, 56, seed=1), Code("def f(x):\n    return x\n"),
              Video(frames(4, (70, 42), seed=2), fps=1.0), (random_image(56, 56, seed=3), "a caption"),
              Video(frames(3, seed=4))]
    together = tiny_vl.encode_documents(inputs, batch_size=len(inputs))
    in_pairs = tiny_vl.encode_documents(inputs, batch_size=2)
    for i, item in enumerate(inputs):
        alone = tiny_vl.encode_documents([item], batch_size=1)[0]
        torch.testing.assert_close(together[i], alone, atol=TOL, rtol=0)
        torch.testing.assert_close(in_pairs[i], alone, atol=TOL, rtol=0)


def test_video_settings_bound_frames_and_pixels_and_are_saved(tiny_vl_path, clip_file, tmp_path):
    path, _ = clip_file
    r = UnifiedRetriever.from_pretrained(tiny_vl_path, video_fps=1.0, video_max_frames=4,
                                         video_min_pixels=28 * 28, video_max_pixels=28 * 28 * 2)
    batch = r.backbone.prepare([to_item(Video(path))])
    t, h, w = batch["video_grid_thw"][0].tolist()
    assert t == 2 and h * w * 14 * 14 <= 28 * 28 * 2  # 4 frames of 30 (1 a second, at most 4)
    r.save(tmp_path / "ix")
    again = UnifiedRetriever.load(tmp_path / "ix")
    assert again.backbone.video == r.backbone.video
    torch.testing.assert_close(again.encode_documents(Video(path)), r.encode_documents(Video(path)))


def test_qwen2_vl_reads_videos_too(clip_file):
    from unret.testing import tiny_qwen2_vl_path

    path, _ = clip_file
    r = UnifiedRetriever.from_pretrained(tiny_qwen2_vl_path())
    both = r.encode_documents([Video(path), "text"], batch_size=2)
    torch.testing.assert_close(both[0], r.encode_documents(Video(path)), atol=TOL, rtol=0)


def test_models_that_cannot_read_videos_say_so_by_name(minilm_path):
    r = UnifiedRetriever.from_pretrained(minilm_path)
    with pytest.raises(InputError, match=r"input #1: .* cannot embed video items") as caught:
        r.encode_documents(["fine", Video(frames(2))])
    assert caught.value.position == 1


def test_index_and_search_videos(tiny_vl_path, clip_file, tmp_path):
    path, _ = clip_file
    r = UnifiedRetriever.from_pretrained(tiny_vl_path)
    r.add(["a text about cats", Video(path), random_image(56, 56), Video(frames(4, seed=8))],
          ids=["t", "clip", "img", "frames"])
    hits = r.search(Video(path), k=4)
    assert hits[0].id == "clip" and hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert {h.modality for h in hits} == {"text", "video", "image"}
    only = r.search("cats", k=4, modality="video")
    assert sorted(h.id for h in only) == ["clip", "frames"] and {h.modality for h in only} == {"video"}
    r.save(tmp_path / "ix")
    again = UnifiedRetriever.load(tmp_path / "ix")
    hit = again.search(Video(path), k=1, modality="video")[0]
    assert hit.id == "clip" and hit.metadata["source"] == str(path)
    np.testing.assert_allclose(again.index.vectors(["clip"]), r.encode_documents(Video(path)).numpy()[None],
                               atol=1e-3)


def test_qwen3_vl_lays_a_clip_out_as_timestamped_patches(clip_file):
    """Qwen3-VL times a clip by text: "<t seconds><|vision_start|>pads<|vision_end|>" per temporal patch, t the
    mean time of its two frames (transformers' Qwen3-VL processor), with no wrapper around the whole clip."""
    from unret.testing import tiny_qwen3_vl_path

    path, _ = clip_file
    r = UnifiedRetriever.from_pretrained(tiny_qwen3_vl_path())
    batch = r.backbone.prepare([to_item(Video(path))])
    text = r.backbone.processor.tokenizer.decode(batch["input_ids"][0]).replace("<|video_pad|>", "")
    times = [i / 10 for i in expected_indices(30, 10.0)]  # 6 frames of 30 at 10 fps
    pairs = zip(times[::2], times[1::2], strict=True)
    patches = "".join(f"<{(a + b) / 2:.1f} seconds><|vision_start|><|vision_end|>" for a, b in pairs)
    assert patches in text and "<|vision_start|><|vision_start|>" not in text
    inputs = [Video(path), "a text", random_image(64, 64), Video(frames(3, (64, 48), seed=6), fps=1.0)]
    together = r.encode_documents(inputs, batch_size=len(inputs))
    for i, item in enumerate(inputs):
        torch.testing.assert_close(together[i], r.encode_documents([item], batch_size=1)[0], atol=TOL, rtol=0)


def test_unret_index_embeds_the_videos_of_a_folder(tiny_vl_path, clip_file, tmp_path, capsys):
    """`unret index` walks videos like images: one item per clip (its vector equal to encoding the file), a
    damaged clip skipped by name, an unchanged clip not embedded again, a text-only model counting it as
    unsupported instead of failing."""
    from unret.cli import main
    from unret.corpus import canonical_id

    path, _ = clip_file
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    clip = corpus / "clip.mp4"
    clip.write_bytes(path.read_bytes())
    (corpus / "notes.md").write_text("# Cats\n\nCats sleep for most of the day.\n")
    (corpus / "broken.mov").write_bytes(b"not a video at all")
    out = tmp_path / "ix"
    assert main(["index", str(corpus), "--model", str(tiny_vl_path), "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "broken.mov" in err and "corrupt or unreadable video" in err
    r = UnifiedRetriever.load(out)
    clip_id = canonical_id(clip)
    modality, meta = r.store.get(clip_id)
    assert modality == "video" and meta["source"] == clip_id
    stored = r.store.vectors.vectors([clip_id])[0]
    np.testing.assert_allclose(stored, r.encode_documents(Video(clip)).numpy(), atol=1e-4)
    assert [h.id for h in r.search(Video(clip), k=1, modality="video")] == [clip_id]

    assert main(["index", str(corpus), "--model", str(tiny_vl_path), "--out", str(out), "--quiet"]) == 0
    assert "indexed 0 files" in capsys.readouterr().out

    text_only = tmp_path / "text-only"
    assert main(["index", str(corpus), "--model", "unret-offline/all-MiniLM-L6-v2", "--out", str(text_only),
                 "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "2 image or video files not indexed" in err
