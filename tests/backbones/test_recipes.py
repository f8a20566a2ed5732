"""Recipes of published embedders, PEFT adapter folders and export to sentence-transformers."""

from __future__ import annotations

import shutil
import unicodedata
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from unret import UnifiedRetriever
from unret.backbones.recipes import RecipeWarning

TOL = 1e-4


def _image(size: tuple[int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def qwen3_vl_embedding(tmp_path_factory):
    """A tiny Qwen3-VL laid out like Qwen/Qwen3-VL-Embedding-2B (config, weights, processor; no ST files)."""
    from unret.testing import tiny_qwen3_vl_path

    target = tmp_path_factory.mktemp("hub") / "Qwen3-VL-Embedding-2B"
    shutil.copytree(tiny_qwen3_vl_path(), target)
    return target


def _official_qwen3_vl_embedding(folder, items, instruction=None):
    """The recipe of QwenLM/Qwen3-VL-Embedding scripts/qwen3_vl_embedding.py, written out independently:
    system turn = instruction (default "Represent the user's input.", a period added without final
    punctuation), images then text in the user turn, generation prompt, right padding, last real token, L2."""
    from transformers import AutoModel, AutoProcessor

    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    instruction = (instruction or "Represent the user's input.").strip()
    if not unicodedata.category(instruction[-1]).startswith("P"):
        instruction += "."
    texts, images = [], []
    for item in items:
        text, image = (item, None) if isinstance(item, str) else (item.get("text"), item.get("image"))
        content = ([{"type": "image", "image": image}] if image is not None else []) + (
            [{"type": "text", "text": text}] if text is not None else [])
        conversation = [{"role": "system", "content": [{"type": "text", "text": instruction}]},
                        {"role": "user", "content": content}]
        texts.append(processor.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True))
        if image is not None:
            images.append(image)
    processor.tokenizer.padding_side = "right"
    inputs = processor(text=texts, images=images or None, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**inputs).last_hidden_state
    last = inputs["attention_mask"].sum(dim=1) - 1  # right padding: the last real token
    pooled = hidden[torch.arange(hidden.shape[0]), last]
    return torch.nn.functional.normalize(pooled.float(), dim=-1)


def test_qwen3_vl_embedding_recipe_matches_the_official_recipe(qwen3_vl_embedding):
    r = UnifiedRetriever.from_pretrained(qwen3_vl_embedding)  # detected from the name, no warning
    assert r.backbone.recipe == "qwen3-vl-embedding" and r.backbone.padding_side == "right"
    docs = ["a cat sits on the mat", _image((64, 64), 0), {"image": _image((128, 64), 1), "text": "a caption"},
            "def area(r):\n    return 3.14159 * r * r\n"]
    official_docs = [d if not isinstance(d, Image.Image) else {"image": d} for d in docs]
    torch.testing.assert_close(r.encode_documents(docs, batch_size=4),
                               _official_qwen3_vl_embedding(qwen3_vl_embedding, official_docs), atol=TOL, rtol=0)
    queries = ["what is the area of a circle", {"image": _image((64, 64), 2), "text": "find similar"}]
    instruction = "Retrieve code that answers the question"  # no final period: the recipe adds one
    torch.testing.assert_close(r.encode_queries(queries, instruction=instruction),
                               _official_qwen3_vl_embedding(qwen3_vl_embedding, queries, instruction),
                               atol=TOL, rtol=0)


def test_recipes_are_detected_from_files_then_names(tmp_path, tiny_vl_path):
    from unret.testing import tiny_qwen2_vl_path

    gme = tmp_path / "gme-Qwen2-VL-2B-Instruct"
    shutil.copytree(tiny_qwen2_vl_path(), gme)
    assert UnifiedRetriever.from_pretrained(gme).backbone.recipe == "gme-qwen2-vl"
    marked = tmp_path / "some-finetune"
    shutil.copytree(tiny_vl_path, marked)
    (marked / "gme_inference.py").write_text("# GME's reference inference script\n")
    r = UnifiedRetriever.from_pretrained(marked)
    assert r.backbone.recipe == "gme-qwen2-vl"
    prompt = r.backbone.prompts.resolve("query", "text", instruction="Find the chart.")
    assert prompt.system == "Find the chart." and prompt.assistant_prefix == "<|endoftext|>"
    assert r.backbone.prompts.resolve("document", "text").system == "You are a helpful assistant."
    # recipe= wins over detection; the saved config restores it.
    dse = UnifiedRetriever.from_pretrained(marked, recipe="dse-qwen2")
    assert dse.backbone.recipe == "dse-qwen2"
    dse.save_pretrained(tmp_path / "saved")
    again = UnifiedRetriever.from_pretrained(tmp_path / "saved")
    assert again.backbone.recipe == "dse-qwen2"
    torch.testing.assert_close(again.encode_queries(["q"]), dse.encode_queries(["q"]), atol=TOL, rtol=0)
    with pytest.raises(ValueError, match="unknown recipe 'nope'"):
        UnifiedRetriever.from_pretrained(marked, recipe="nope")


def test_unknown_decoder_warns_which_prompt_and_how_to_choose(tiny_text_path):
    with pytest.warns(RecipeWarning, match=r"'oneword' prompt.*recipe="):
        r = UnifiedRetriever.from_pretrained(tiny_text_path)
    assert r.backbone.recipe == "oneword"  # the study's zero-shot preset stays the default for base models
    with warnings.catch_warnings():
        warnings.simplefilter("error", RecipeWarning)
        assert UnifiedRetriever.from_pretrained(tiny_text_path, recipe="supervised").backbone.recipe == "supervised"
        UnifiedRetriever.from_pretrained(tiny_text_path, prompts="oneword")


def test_peft_adapter_folder_embeds_like_the_merged_model(tmp_path, tiny_vl_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel, AutoProcessor

    torch.manual_seed(0)
    base = AutoModel.from_pretrained(tiny_vl_path)
    lora = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                           init_lora_weights=False))
    lora.save_pretrained(tmp_path / "adapter")
    merged = lora.merge_and_unload()
    merged.save_pretrained(tmp_path / "merged")
    AutoProcessor.from_pretrained(tiny_vl_path).save_pretrained(tmp_path / "merged")

    inputs = ["a query about charts", _image((56, 56), 3), {"image": _image((112, 56), 4), "text": "caption"}]
    want = UnifiedRetriever.from_pretrained(tmp_path / "merged", prompts="oneword").encode_documents(inputs)
    plain = UnifiedRetriever.from_pretrained(tiny_vl_path, prompts="oneword").encode_documents(inputs)
    assert (want - plain).abs().max() > 1e-3  # the adapter changes the vectors
    for merge in (True, False):
        got = UnifiedRetriever.from_pretrained(tmp_path / "adapter", prompts="oneword", merge_adapter=merge)
        torch.testing.assert_close(got.encode_documents(inputs), want, atol=TOL, rtol=0)


def _st_roundtrip(retriever, folder, queries, documents):
    from sentence_transformers import SentenceTransformer

    assert retriever.save_pretrained(folder) == ""
    reference = SentenceTransformer(str(folder), device="cpu")
    torch.testing.assert_close(retriever.encode_queries(queries),
                               reference.encode_query(queries, convert_to_tensor=True), atol=TOL, rtol=0)
    torch.testing.assert_close(retriever.encode_documents(documents),
                               reference.encode_document(documents, convert_to_tensor=True), atol=TOL, rtol=0)


def test_export_loads_in_sentence_transformers_with_equal_vectors(tmp_path, minilm_path, qwen3_vl_embedding):
    pytest.importorskip("sentence_transformers")
    texts = ["A man is eating food.", "def add(a, b):\n    return a + b\n"]
    _st_roundtrip(UnifiedRetriever.from_pretrained(minilm_path), tmp_path / "minilm", texts, texts)
    qwen = UnifiedRetriever.from_pretrained(qwen3_vl_embedding)
    mixed = [*texts, _image((64, 64), 5), {"image": _image((128, 64), 6), "text": "a caption"}]
    _st_roundtrip(qwen, tmp_path / "qwen3vl", mixed, mixed)
    # unret can still load what it exported (its own config wins over the sentence-transformers files).
    again = UnifiedRetriever.from_pretrained(tmp_path / "qwen3vl")
    torch.testing.assert_close(again.encode_documents(mixed), qwen.encode_documents(mixed), atol=TOL, rtol=0)


def test_export_refuses_recipes_sentence_transformers_cannot_render(tmp_path, tiny_text_path):
    r = UnifiedRetriever.from_pretrained(tiny_text_path, prompts="oneword")
    reason = r.save_pretrained(tmp_path / "oneword")
    assert "cannot render" in reason and not (tmp_path / "oneword" / "modules.json").exists()
    assert UnifiedRetriever.from_pretrained(tmp_path / "oneword").backbone.recipe == "oneword"


@pytest.mark.parametrize("name", ["Qwen/Qwen2.5-VL-3B-Instruct", "Qwen/Qwen2.5-Coder-1.5B-Instruct",
                                  "Qwen/Qwen2-VL-2B-Instruct", "Qwen/Qwen2.5-7B"])
def test_the_studys_base_models_get_oneword_by_hub_id_without_a_warning(name, monkeypatch):
    from unret.backbones import recipes, st_package

    monkeypatch.setattr(st_package, "read_package", lambda *a, **k: None)  # no hub here: no package files
    with warnings.catch_warnings():
        warnings.simplefilter("error", RecipeWarning)
        chosen = recipes.choose_recipe(name, {}, decoder=True)
    assert (chosen.name, chosen.pooling) == ("oneword", "last")


def test_a_base_name_kept_in_a_finetunes_config_still_warns(tmp_path, monkeypatch):
    """Fine-tuned embedders keep their base's ``_name_or_path``: that alone must not silence the warning."""
    from unret.backbones import recipes, st_package

    monkeypatch.setattr(st_package, "read_package", lambda *a, **k: None)
    config = {"_name_or_path": "Qwen/Qwen2.5-VL-3B-Instruct"}
    for name in (str(tmp_path / "my-finetune"), "someone/Qwen2.5-VL-3B-Instruct-embed"):
        with pytest.warns(RecipeWarning, match="oneword"):
            assert recipes.choose_recipe(name, config, decoder=True).name == "oneword"
