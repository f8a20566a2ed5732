"""sentence-transformers as the reference: packages built with sentence-transformers itself embed the same
through unret (encode_queries / encode_documents vs encode_query / encode_document), for text, code, images
and mixed batches; packages unret cannot run go through SentenceTransformer itself."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from unret import Code, UnifiedRetriever
from unret.backbones import detect_kind

st = pytest.importorskip("sentence_transformers")
from sentence_transformers import SentenceTransformer  # noqa: E402
from sentence_transformers.base.modules import Normalize, Transformer  # noqa: E402
from sentence_transformers.sentence_transformer.modules import Pooling  # noqa: E402

TOL = 1e-4
QUERY_PROMPT = "Given a question, retrieve the passage, code or image that answers it."
DOC_PROMPT = "Represent this document for retrieval."
CODE = "def add(a, b):\n    \"\"\"Sum of two numbers.\"\"\"\n    return a + b\n"


def _image(size: tuple[int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def _package(path, source, prompts, padding_side: str | None = None):
    kwargs = {"processing_kwargs": {"text": {"padding_side": padding_side}}} if padding_side else {}
    transformer = Transformer(str(source), **kwargs)
    if padding_side:
        transformer.tokenizer.padding_side = padding_side
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="lasttoken")
    model = SentenceTransformer(modules=[transformer, pooling, Normalize()], prompts=prompts)
    model.save(str(path))
    return path


def _inputs(patch: int, with_images: bool):
    """Text, code and (for VL models) images and image+text at sizes the processor keeps as they are."""
    texts = ["how do I add two numbers?", "a considerably longer passage about sorting lists in python " * 3]
    code = [CODE]
    if not with_images:
        return texts + code, texts + code
    images = [_image((2 * 2 * patch, 2 * 2 * patch), 0), _image((4 * 2 * patch, 2 * 2 * patch), 1)]
    pair = {"image": _image((2 * 2 * patch, 2 * 2 * patch), 2), "text": "a caption for the picture"}
    return texts + code + images + [pair], texts + code + images + [pair]


def _unret_inputs(inputs):
    return [Code(x) if x == CODE else x for x in inputs]


def _assert_parity(folder, with_images: bool, patch: int = 14, prompted: bool = True, **unret_kwargs):
    reference = SentenceTransformer(str(folder), device="cpu")
    ours = UnifiedRetriever.from_pretrained(folder, **unret_kwargs)
    assert ours.backbone.config()["recipe"] == "sentence-transformers"
    queries, documents = _inputs(patch, with_images)
    # A mixed batch (every modality at once), and each modality alone.
    got_q = ours.encode_queries(_unret_inputs(queries), batch_size=len(queries))
    got_d = ours.encode_documents(_unret_inputs(documents), batch_size=3)
    want_q = reference.encode_query(queries, batch_size=len(queries), convert_to_tensor=True)
    want_d = reference.encode_document(documents, batch_size=1, convert_to_tensor=True)
    torch.testing.assert_close(got_q, want_q.float(), atol=TOL, rtol=0)
    torch.testing.assert_close(got_d, want_d.float(), atol=TOL, rtol=0)
    if prompted:
        assert (got_q - got_d).abs().max() > 1e-3  # query and document prompts really differ
    return ours, reference


@pytest.fixture(scope="module")
def st_qwen25_vl(tmp_path_factory):
    from unret.testing import tiny_qwen25_vl_path

    return _package(tmp_path_factory.mktemp("st") / "qwen25vl", tiny_qwen25_vl_path(),
                    {"query": QUERY_PROMPT, "document": DOC_PROMPT})


def test_qwen25_vl_package_matches_sentence_transformers(st_qwen25_vl):
    assert detect_kind(str(st_qwen25_vl)) == "qwen_vl"
    ours, _ = _assert_parity(st_qwen25_vl, with_images=True)
    prompt = ours.backbone.prompts.resolve("query", "text")
    assert prompt.chat and prompt.system == QUERY_PROMPT and not prompt.generation_prompt


def test_qwen3_vl_package_matches_sentence_transformers(tmp_path):
    from unret.testing import tiny_qwen3_vl_path

    folder = _package(tmp_path / "qwen3vl", tiny_qwen3_vl_path(), {"query": QUERY_PROMPT, "document": ""})
    _assert_parity(folder, with_images=True, patch=16)


def test_qwen2_text_llm_left_padding_instruction_prompt(tmp_path):
    from unret.testing import tiny_qwen2_path

    folder = _package(tmp_path / "qwen2", tiny_qwen2_path(),
                      {"query": "Instruct: retrieve code that does what the question asks", "document": ""},
                      padding_side="left")
    ours, _ = _assert_parity(folder, with_images=False)
    assert ours.backbone.padding_side == "left"


def test_minilm_real_weights_match_sentence_transformers(minilm_path, tmp_path):
    _assert_parity(minilm_path, with_images=False, prompted=False)
    # The same weights with text-prefix prompts (a package that declares them, like E5 / BGE).
    model = SentenceTransformer(str(minilm_path), device="cpu", prompts={"query": "query: ", "passage": "passage: "})
    model.save(str(tmp_path / "prompted"))
    ours, _ = _assert_parity(tmp_path / "prompted", with_images=False)
    assert ours.backbone.prompts.resolve("query", "text").template == "query: {content}"


def test_instruction_replaces_the_prompt_like_sentence_transformers(st_qwen25_vl):
    reference = SentenceTransformer(str(st_qwen25_vl), device="cpu")
    ours = UnifiedRetriever.from_pretrained(st_qwen25_vl)
    queries = ["where is the add function?", "red square"]
    got = ours.encode_queries(queries, instruction="Find the code.")
    want = reference.encode_query(queries, prompt="Find the code.", convert_to_tensor=True)
    torch.testing.assert_close(got, want, atol=TOL, rtol=0)


def test_unknown_modules_run_through_sentence_transformers_itself(minilm_path, tmp_path):
    """A package with a Dense projection: not guessed into another recipe, but encoded by SentenceTransformer."""
    from sentence_transformers.base.modules import Dense

    base = SentenceTransformer(str(minilm_path), device="cpu")
    torch.manual_seed(0)
    dense = Dense(384, 96, activation_function=torch.nn.Tanh())
    model = SentenceTransformer(modules=[base[0], base[1], dense, Normalize()], prompts={"query": "query: "})
    model.save(str(tmp_path / "dense"))
    assert detect_kind(str(tmp_path / "dense")) == "sentence_transformers"
    ours = UnifiedRetriever.from_pretrained(tmp_path / "dense")
    assert ours.dim == 96
    texts = ["a man eats bread", "def f(x): return x"]
    reference = SentenceTransformer(str(tmp_path / "dense"), device="cpu")
    torch.testing.assert_close(ours.encode_queries(texts), reference.encode_query(texts, convert_to_tensor=True),
                               atol=TOL, rtol=0)
    torch.testing.assert_close(ours.encode_documents(texts),
                               reference.encode_document(texts, convert_to_tensor=True), atol=TOL, rtol=0)
    with pytest.raises(ValueError, match="module Dense"):
        UnifiedRetriever.from_pretrained(tmp_path / "dense", kind="hf_text", recipe="sentence-transformers")


def test_package_settings_are_read(st_qwen25_vl):
    from unret.backbones.st_package import read_package

    package = read_package(str(st_qwen25_vl))
    assert package.supported and package.chat and package.pooling == "last" and package.normalize
    assert package.prompt_for("query") == QUERY_PROMPT and package.prompt_for("document") == DOC_PROMPT
    config = json.loads((st_qwen25_vl / "config_sentence_transformers.json").read_text())
    assert config["prompts"]["query"] == QUERY_PROMPT


def test_hub_package_is_read_offline_from_the_cache(monkeypatch, tmp_path, st_qwen25_vl):
    """A hub name: the package files come through huggingface_hub from its local cache (HF_HUB_OFFLINE=1)."""
    import shutil

    import huggingface_hub.constants

    from unret.backbones.st_package import read_package

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--someone--st-qwen"
    snapshot = repo / "snapshots" / commit
    shutil.copytree(st_qwen25_vl, snapshot, ignore=shutil.ignore_patterns("*.safetensors"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    package = read_package("someone/st-qwen")
    assert package is not None and package.supported and package.chat and package.pooling == "last"
    assert package.prompt_for("query") == QUERY_PROMPT and package.prompt_for("document") == DOC_PROMPT
    assert read_package("someone/not-cached") is None  # offline and absent: not a package, no error


def _st_video(clip, fps):
    meta = {"fps": fps, "total_num_frames": len(clip), "frames_indices": list(range(len(clip)))}
    return {"video": {"array": clip, "video_metadata": meta}}


def test_qwen3_vl_videos_match_sentence_transformers(tmp_path):
    """Qwen3-VL clips carry "<t seconds>" per temporal patch. Its video processor resamples frames given as a list
    to 2 a second, so the clips here are at 2 fps: the one input both read alike."""
    from unret.items import Video
    from unret.testing import tiny_qwen3_vl_path

    folder = _package(tmp_path / "qwen3vl", tiny_qwen3_vl_path(), {"query": QUERY_PROMPT, "document": ""})
    reference = SentenceTransformer(str(folder), device="cpu")
    ours = UnifiedRetriever.from_pretrained(folder)
    clips = [[_image((64, 64), s) for s in range(4)], [_image((96, 64), 10 + s) for s in range(6)]]
    want = reference.encode_document([_st_video(c, 2.0) for c in clips] + ["a text"], batch_size=1,
                                     convert_to_tensor=True)
    got = ours.encode_documents([Video(c, fps=2.0) for c in clips] + ["a text"], batch_size=3)
    torch.testing.assert_close(got, want.float(), atol=TOL, rtol=0)


def test_videos_match_sentence_transformers(st_qwen25_vl):
    """The same frames (and rate) through sentence-transformers 6 and unret: one vector, within 1e-4, alone and
    in a batch with text and an image; frame sizes the video processor resizes included."""
    from unret.items import Video

    rng = np.random.default_rng(7)
    reference = SentenceTransformer(str(st_qwen25_vl), device="cpu")
    ours = UnifiedRetriever.from_pretrained(st_qwen25_vl)
    clips = [[_image((84, 56), s) for s in range(4)], [_image((90, 61), 10 + s) for s in range(3)]]
    rates = [2.0, float(rng.choice([1.0, 4.0]))]

    image = _image((56, 56), 20)
    want = reference.encode_document([_st_video(c, f) for c, f in zip(clips, rates, strict=True)] + ["a text", image],
                                     batch_size=1, convert_to_tensor=True)
    got = ours.encode_documents([Video(c, fps=f) for c, f in zip(clips, rates, strict=True)] + ["a text", image],
                                batch_size=4)
    torch.testing.assert_close(got, want.float(), atol=TOL, rtol=0)
    want_q = reference.encode_query([_st_video(clips[0], rates[0])], convert_to_tensor=True)
    torch.testing.assert_close(ours.encode_queries([Video(clips[0], fps=rates[0])]), want_q.float(), atol=TOL, rtol=0)
