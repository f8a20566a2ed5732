"""Videos on the server: /search filters by modality "video", and a video hit's thumbnail is its first frame."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.test_video import frames
from unret import UnifiedRetriever
from unret.items import Video
from unret.serve.video import video_thumbnail
from unret.video import write_video

fastapi = pytest.importorskip("fastapi")


def _mean_colour(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=float).reshape(-1, 3).mean(0)


@pytest.fixture(scope="module")
def client_and_files(tiny_vl_path, tmp_path_factory):
    from fastapi.testclient import TestClient

    from unret.serve.app import create_app
    from unret.serve.service import SearchService

    root = tmp_path_factory.mktemp("served")
    red_first = [Image.new("RGB", (300, 200), (220, 20, 20)), *frames(3, (300, 200), seed=1)]  # a flat first frame
    clip = write_video(root / "clip.mp4", red_first, fps=2)
    r = UnifiedRetriever.from_pretrained(tiny_vl_path)
    r.add(["a text about boats", Video(clip), Video(frames(4, seed=2))], ids=["text", "clip", "memory"])
    r.save(root / "ix")
    return TestClient(create_app(SearchService.load(root / "ix"))), clip


def test_search_by_video_modality(client_and_files):
    client, _ = client_and_files
    got = client.post("/search", json={"query": "boats", "k": 3, "modality": "video"})
    assert got.status_code == 200, got.text
    hits = got.json()["results"][0]
    assert sorted(h["id"] for h in hits) == ["clip", "memory"] and {h["modality"] for h in hits} == {"video"}


def test_a_video_hit_has_its_first_frame_as_thumbnail(client_and_files):
    client, clip = client_and_files
    got = client.get("/thumbnails/clip")
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    thumb = Image.open(io.BytesIO(got.content))
    assert max(thumb.size) <= 256 and thumb.size[0] / thumb.size[1] == pytest.approx(1.5, abs=0.02)
    np.testing.assert_allclose(_mean_colour(got.content), [220, 20, 20], atol=6)
    assert got.content == video_thumbnail(str(clip))
    assert client.get("/thumbnails/memory").status_code == 404  # frames from memory: no file to show
    assert client.get("/thumbnails/text").status_code == 404


def test_a_video_file_gone_or_broken_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        video_thumbnail(str(tmp_path / "gone.mp4"))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    with pytest.raises(FileNotFoundError, match="no longer a readable video"):
        video_thumbnail(str(broken))
