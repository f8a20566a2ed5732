"""``unret demo``: embed a small mixed corpus of text, code and images and show how they relate.

With ``Qwen/Qwen2.5-VL-3B-Instruct`` in the local Hugging Face cache (or ``--model`` pointing at any
checkpoint) the scores are meaningful; offline without one, the demo says so and runs the tiny random
Qwen2.5-VL checkpoint as a pipeline check — the numbers then show plumbing, not quality.
"""

from __future__ import annotations

import inspect
import json
import textwrap
import time

from PIL import Image, ImageDraw

DEFAULT_MODEL = "Qwen/Qwen2.5-VL-3B-Instruct"


def model_available_locally(name_or_path: str) -> bool:
    """True for a local folder or a hub name already in the Hugging Face cache (no network needed)."""
    from pathlib import Path

    if Path(name_or_path).expanduser().is_dir():
        return True
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(name_or_path, "config.json"), str)


def _chart() -> Image.Image:
    img = Image.new("RGB", (224, 168), "white")
    draw = ImageDraw.Draw(img)
    for i, h in enumerate([40, 90, 60, 130]):
        draw.rectangle([20 + i * 50, 150 - h, 55 + i * 50, 150], fill=(40, 90, 200))
    return img


def _sun() -> Image.Image:
    img = Image.new("RGB", (168, 168), (135, 206, 235))
    ImageDraw.Draw(img).ellipse([44, 44, 124, 124], fill=(255, 200, 0))
    return img


def corpus() -> list[tuple[str, object]]:
    """(label, input) pairs: real prose, real standard-library code, and two drawn images."""
    from unret.items import Code

    return [
        ("text: json", "JSON is a lightweight text format for exchanging structured data."),
        ("text: weather", "The forecast says it will be sunny and warm all weekend."),
        ("code: json.dumps", Code(textwrap.dedent(inspect.getsource(json.dumps)), "python")),
        ("code: textwrap.dedent", Code(textwrap.dedent(inspect.getsource(textwrap.dedent)), "python")),
        ("image: bar chart", _chart()),
        ("image: sun", _sun()),
    ]


QUERIES = [
    "serialize a python object to a JSON string",
    "remove common leading whitespace from lines",
    "a bar chart",
    "a sunny day",
]


def run(model: str | None = None, device: str | None = None) -> None:
    """Encode the corpus and queries, print the query × document similarity matrix."""
    from unret.retriever import UnifiedRetriever

    name = model or DEFAULT_MODEL
    if model == "tiny" or not model_available_locally(name):
        from unret.testing import tiny_qwen25_vl_path

        if model != "tiny":
            print(f"{name} is not available locally (offline?): running the tiny random Qwen2.5-VL "
                  "checkpoint as a pipeline check — scores below show plumbing, not quality.")
        name = str(tiny_qwen25_vl_path())
    start = time.perf_counter()
    retriever = UnifiedRetriever.from_pretrained(name, device=device)
    loaded = time.perf_counter()
    labels, inputs = zip(*corpus(), strict=True)
    docs = retriever.encode_documents(list(inputs), batch_size=8)
    queries = retriever.encode_queries(QUERIES, batch_size=8)
    encoded = time.perf_counter()
    scores = (queries @ docs.T).cpu()
    width = max(len(q) for q in QUERIES)
    print(f"\nmodel: {name}   dim: {retriever.dim}   load {loaded - start:.1f}s   "
          f"encode {len(inputs) + len(QUERIES)} items {encoded - loaded:.2f}s\n")
    print(" " * width + " | " + " | ".join(f"{label:>22}" for label in labels))
    for q, row in zip(QUERIES, scores, strict=True):
        print(f"{q:>{width}} | " + " | ".join(f"{s:>22.3f}" for s in row.tolist()))
