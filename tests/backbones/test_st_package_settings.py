"""Package settings of sentence-transformers 6.3, checked against sentence-transformers itself: mean / cls
pooling on Qwen-VL packages (with the generation prompt), per-task ``query_length`` / ``document_length``, the
export round trip, and a guard that every key sentence-transformers can write is implemented or routed."""

from __future__ import annotations

import inspect
import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from unret import UnifiedRetriever
from unret.backbones import detect_kind
from unret.backbones.st_package import read_package

st = pytest.importorskip("sentence_transformers")
from sentence_transformers import SentenceTransformer  # noqa: E402
from sentence_transformers.base.modules import Normalize, Transformer  # noqa: E402
from sentence_transformers.sentence_transformer.modules import Pooling  # noqa: E402

TOL = 1e-4
QUERY_PROMPT = "Given a question, retrieve the passage, code or image that answers it."
DOC_PROMPT = "Represent this document for retrieval."
LONG = ("Sorting a list in Python: the built-in sorted() returns a new list, list.sort() sorts in place; "
        "both accept key= and reverse=, and both are stable, so equal keys keep their order. ") * 4


def _image(size: tuple[int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def _vl_package(path, pooling: str, generation_prompt: bool = False, **transformer_kwargs):
    from unret.testing import tiny_qwen25_vl_path

    if generation_prompt:
        transformer_kwargs["processing_kwargs"] = {"chat_template": {"add_generation_prompt": True}}
    transformer = Transformer(str(tiny_qwen25_vl_path()), **transformer_kwargs)
    model = SentenceTransformer(modules=[transformer, Pooling(transformer.get_embedding_dimension(), pooling),
                                         Normalize()], prompts={"query": QUERY_PROMPT, "document": DOC_PROMPT})
    model.save(str(path))
    return path


def _vl_inputs():
    texts = ["how do I add two numbers?", "a considerably longer passage about sorting lists in python " * 3]
    return [*texts, _image((56, 56), 0), _image((112, 56), 1), {"image": _image((56, 56), 2), "text": "a caption"}]


def _assert_same(ours, reference, queries, documents, batch_size: int = 3):
    torch.testing.assert_close(ours.encode_queries(queries, batch_size=batch_size),
                               reference.encode_query(queries, batch_size=batch_size, convert_to_tensor=True).float(),
                               atol=TOL, rtol=0)
    torch.testing.assert_close(ours.encode_documents(documents, batch_size=batch_size),
                               reference.encode_document(documents, batch_size=1, convert_to_tensor=True).float(),
                               atol=TOL, rtol=0)


@pytest.mark.parametrize(("pooling", "generation_prompt"), [("mean", True), ("cls", False)])
def test_qwen_vl_package_with_mean_or_cls_pooling_embeds_and_exports_like_sentence_transformers(
        tmp_path, pooling, generation_prompt):
    folder = _vl_package(tmp_path / "pkg", pooling, generation_prompt)
    assert detect_kind(str(folder)) == "qwen_vl"
    ours = UnifiedRetriever.from_pretrained(folder)  # no flags
    assert ours.backbone.pooling == ("cls" if pooling == "cls" else "mean")
    assert ours.backbone.prompts.resolve("query", "text").generation_prompt is generation_prompt
    inputs = _vl_inputs()
    _assert_same(ours, SentenceTransformer(str(folder), device="cpu"), inputs, inputs)
    # Export: SentenceTransformer reads unret's files with the same pooling, and unret reloads its own.
    assert ours.save_pretrained(tmp_path / "exported") == ""
    pooling_config = json.loads((tmp_path / "exported" / "1_Pooling" / "config.json").read_text())
    assert pooling_config["pooling_mode"] == pooling
    _assert_same(ours, SentenceTransformer(str(tmp_path / "exported"), device="cpu"), inputs, inputs)
    again = UnifiedRetriever.from_pretrained(tmp_path / "exported")
    assert again.backbone.pooling == ours.backbone.pooling
    torch.testing.assert_close(again.encode_documents(inputs), ours.encode_documents(inputs), atol=TOL, rtol=0)


def test_last_token_and_mean_pooling_give_different_vectors(tmp_path):
    """The pooling read from the package is the one used (the test above cannot pass by last-token pooling)."""
    mean = UnifiedRetriever.from_pretrained(_vl_package(tmp_path / "mean", "mean"))
    last = UnifiedRetriever.from_pretrained(_vl_package(tmp_path / "last", "lasttoken"))
    inputs = _vl_inputs()
    assert (mean.encode_documents(inputs) - last.encode_documents(inputs)).abs().max() > 1e-2


def test_query_and_document_lengths_cut_where_sentence_transformers_cuts(minilm_path, tmp_path):
    base = SentenceTransformer(str(minilm_path), device="cpu")
    base[0].query_length, base[0].document_length = 12, 20
    base.save(str(tmp_path / "minilm"))
    config = json.loads((tmp_path / "minilm" / "sentence_bert_config.json").read_text())
    assert (config["query_length"], config["document_length"]) == (12, 20)
    ours = UnifiedRetriever.from_pretrained(tmp_path / "minilm")
    assert (ours.backbone.query_length, ours.backbone.document_length) == (12, 20)
    texts = [LONG, "short text", LONG[:150]]
    _assert_same(ours, SentenceTransformer(str(tmp_path / "minilm"), device="cpu"), texts, texts)
    # The caps really cut: full-length vectors differ, and the query and document caps differ.
    full = UnifiedRetriever.from_pretrained(minilm_path)
    assert (ours.encode_documents([LONG]) - full.encode_documents([LONG])).abs().max() > 1e-2
    assert (ours.encode_queries([LONG]) - ours.encode_documents([LONG])).abs().max() > 1e-2
    # Exported again, sentence-transformers reads the same caps.
    assert ours.save_pretrained(tmp_path / "exported") == ""
    _assert_same(ours, SentenceTransformer(str(tmp_path / "exported"), device="cpu"), texts, texts)


def test_qwen_vl_document_length_keeps_the_chat_template_suffix_like_sentence_transformers(tmp_path):
    folder = _vl_package(tmp_path / "pkg", "lasttoken", generation_prompt=True, query_length=40,
                         document_length=56)
    ours = UnifiedRetriever.from_pretrained(folder)
    assert (ours.backbone.query_length, ours.backbone.document_length) == (40, 56)
    texts = [LONG, "a short one", LONG[:300]]
    _assert_same(ours, SentenceTransformer(str(folder), device="cpu"), texts, texts)


# --- every key sentence-transformers can write: implemented, or routed to sentence-transformers itself ---


def _transformer_keys() -> set[str]:
    """Keys a sentence_bert_config.json can hold: what Transformer saves (config_keys), every argument its
    loader passes on from the file (the __init__ signature), and the legacy names its decorator renames."""
    from sentence_transformers.util import decorators

    parameters = set(inspect.signature(Transformer.__init__).parameters) - {"self", "model_name_or_path"}
    legacy = set(re.findall(r"``(\w+)``\s*->", decorators.transformer_kwargs_decorator.__doc__ or ""))
    assert {"model_args", "tokenizer_args"} <= legacy  # the docstring still lists the renames
    return set(Transformer.config_keys) | parameters | legacy


def _pooling_keys() -> set[str]:
    from sentence_transformers.sentence_transformer.modules import pooling

    return set(Pooling.config_keys) | set(Pooling.config_key_renames) | set(pooling._LEGACY_POOLING_MODE_KWARGS)


def _model_keys(minilm_path) -> set[str]:
    model = SentenceTransformer(str(minilm_path), device="cpu", truncate_dim=8)
    return set(model._get_model_config())


def test_every_key_sentence_transformers_writes_is_known(minilm_path):
    from unret.backbones import st_package

    for keys, known, file in ((_transformer_keys(), st_package.TRANSFORMER_KEYS, "sentence_bert_config.json"),
                              (_pooling_keys(), st_package.POOLING_KEYS, "1_Pooling/config.json"),
                              (set(Normalize.config_keys), st_package.NORMALIZE_KEYS, "Normalize config"),
                              (_model_keys(minilm_path), st_package.MODEL_KEYS, st_package.ST_CONFIG)):
        unknown = keys - known
        assert not unknown, f"{file}: sentence-transformers writes {sorted(unknown)}: unret neither reads nor routes it"


def _write(folder, file: str, update: dict) -> None:
    path = folder / file
    path.write_text(json.dumps({**json.loads(path.read_text()), **update}))


@pytest.fixture
def minilm_package(minilm_path, tmp_path):
    model = SentenceTransformer(str(minilm_path), device="cpu")
    model.save(str(tmp_path / "pkg"))
    assert read_package(str(tmp_path / "pkg")).supported
    return tmp_path / "pkg"


# Values unret does not reproduce, one per key that has any; each must route the package.
ROUTED = {
    "sentence_bert_config.json": {
        "do_lower_case": True, "query_expansion": {"strategy": "fixed", "length": 32}, "backend": "onnx",
        "model_kwargs": {"attn_implementation": "eager"}, "processor_kwargs": {"model_max_length": 64},
        "config_kwargs": {"hidden_dropout_prob": 0.5}, "model_args": {"x": 1}, "tokenizer_args": {"x": 1},
        "config_args": {"x": 1}, "cache_dir": "/tmp/elsewhere", "tokenizer_name_or_path": "other/tokenizer",
        "module_output_name": "sentence_embedding", "transformer_task": "sequence-classification",
        "processing_kwargs": {"text": {"max_length": 16}},
        "modality_config": {"text": {"method": "forward", "method_output_name": "pooler_output"}},
        "some_key_a_later_release_adds": 1,
    },
    "1_Pooling/config.json": {"pooling_mode": "max", "some_key_a_later_release_adds": 1},
    "2_Normalize/config.json": {"module_output_name": "other", "some_key_a_later_release_adds": 1},
    "config_sentence_transformers.json": {"truncate_dim": 8, "model_type": "SparseEncoder",
                                          "some_key_a_later_release_adds": 1},
}
# Keys every value of which unret reproduces (or that change no vector: unpad_inputs is a speed switch).
IMPLEMENTED = {"max_seq_length", "query_length", "document_length", "unpad_inputs", "embedding_dimension",
               "word_embedding_dimension", "include_prompt", "module_input_name", "prompts",
               "default_prompt_name", "similarity_fn_name", "__version__"} | {
                   key for key in _pooling_keys() if key.startswith("pooling_mode_")}


def test_every_known_key_is_implemented_or_has_a_routed_value(minilm_path):
    from unret.backbones import st_package

    routed = {key for values in ROUTED.values() for key in values}
    known = (st_package.TRANSFORMER_KEYS | st_package.POOLING_KEYS | st_package.NORMALIZE_KEYS
             | st_package.MODEL_KEYS)
    assert known <= routed | IMPLEMENTED, f"untested keys: {sorted(known - routed - IMPLEMENTED)}"


@pytest.mark.parametrize(("file", "key"), [(f, k) for f, values in ROUTED.items() for k in values])
def test_a_setting_unret_does_not_implement_routes_to_sentence_transformers(minilm_package, file, key):
    if not (minilm_package / file).exists():
        (minilm_package / file).write_text("{}")
    _write(minilm_package, file, {key: ROUTED[file][key]})
    package = read_package(str(minilm_package))
    assert not package.supported and any(key in reason or repr(ROUTED[file][key]) in reason
                                          for reason in package.unsupported), package.unsupported
    assert detect_kind(str(minilm_package)) == "sentence_transformers"
