"""Rerank cost per query: a reranker scoring a first stage's top N = 20 and 100 candidates.

Documents are the paragraphs of unret's own docs (real English and code, 40–1,000 characters); each query is
a section heading, scored against N paragraphs. Rerankers:

* ``tiny-ce``: a 2-layer, 32-wide BERT CrossEncoder package saved by sentence-transformers (random weights);
* ``minilm-ce``: all-MiniLM-L6-v2's real weights under a fresh 1-label head — the shape and cost of
  ``cross-encoder/ms-marco-MiniLM-L6-v2`` (6 layers, 384 wide), whose weights no PyPI package ships;
* ``tiny-qwen2`` / ``tiny-qwen2.5-vl``: the yes/no decoder recipe on unret.testing's tiny checkpoints.

Each is timed against the bare computation it wraps, on the same pairs and alternating query by query:
sentence-transformers' ``CrossEncoder.predict`` for cross-encoders, the model card's loop (tokenize the
prompts, one padded ``AutoModelForCausalLM`` forward per batch of 8, the last token's logits) for decoders.

    python benchmarks/rerank_bench.py                  # ~2 min on 2 CPU cores
    python benchmarks/rerank_bench.py --queries 8 --threads 2
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DOCS = Path(__file__).resolve().parents[1] / "docs"


def corpus() -> tuple[list[str], list[str]]:
    """(queries, paragraphs): section headings and paragraphs of docs/*.md."""
    headings, paragraphs = [], []
    for page in sorted(DOCS.glob("*.md")):
        for block in page.read_text().split("\n\n"):
            block = block.strip()
            if block.startswith("#"):
                headings.append(re.sub(r"^#+\s*", "", block.splitlines()[0]))
            elif 40 <= len(block) <= 1000:
                paragraphs.append(block)
    return headings, paragraphs


def build_cross_encoders(root: Path) -> dict[str, Path]:
    from sentence_transformers import CrossEncoder
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        BertConfig,
        BertForSequenceClassification,
    )

    from unret.offline_models import minilm_path

    minilm = str(minilm_path())
    tokenizer = AutoTokenizer.from_pretrained(minilm)
    torch.manual_seed(0)
    tiny = BertForSequenceClassification(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32,
                                                    num_hidden_layers=2, num_attention_heads=2,
                                                    intermediate_size=64, num_labels=1))
    real = AutoModelForSequenceClassification.from_pretrained(minilm, num_labels=1)
    out = {}
    for name, model in (("tiny-ce", tiny), ("minilm-ce", real)):
        raw = root / f"{name}-raw"
        model.save_pretrained(raw)
        tokenizer.save_pretrained(raw)
        CrossEncoder(str(raw), max_length=256).save(str(root / name))
        out[name] = root / name
    return out


def bare_cross_encoder(path: Path):
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(path))
    return lambda query, docs: model.predict([(query, d) for d in docs], batch_size=32, show_progress_bar=False)


def bare_decoder(path: Path, batch_size: int = 8):
    """The model card's loop: prompts tokenized up front, then full LM logits per padded batch."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from unret.rerank.decoder import PREFIX, SUFFIX, pair_text

    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    yes, no = tokenizer.convert_tokens_to_ids("yes"), tokenizer.convert_tokens_to_ids("no")

    def prepare(query, docs):
        return [tokenizer([PREFIX + pair_text(query, d) + SUFFIX for d in docs[i:i + batch_size]],
                          padding=True, return_tensors="pt") for i in range(0, len(docs), batch_size)]

    def run(batches):
        with torch.inference_mode():
            return [torch.softmax(model(**b).logits[:, -1, [no, yes]], -1)[:, 1] for b in batches]

    return prepare, run


def per_query(fns, queries, docs, n) -> list[float]:
    """Median seconds per query of each ``fn(query, docs[:n])``, the functions alternating query by query so
    they see the same machine load (one warm-up call each first)."""
    for fn in fns:
        fn(queries[0], docs[:n])
    times: list[list[float]] = [[] for _ in fns]
    for i, q in enumerate(queries):
        pool = (docs[i * 7 % len(docs):] + docs)[:n]
        for fn, out in zip(fns, times, strict=True):
            t = time.perf_counter()
            fn(q, pool)
            out.append(time.perf_counter() - t)
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--depths", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--only", nargs="+", default=None, help="reranker names to run (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from unret.rerank import load_reranker
    from unret.testing import tiny_qwen2_path, tiny_qwen25_vl_path

    headings, paragraphs = corpus()
    queries = headings[: args.queries]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        models = {**build_cross_encoders(Path(tmp)), "tiny-qwen2": tiny_qwen2_path(),
                  "tiny-qwen2.5-vl": tiny_qwen25_vl_path()}
        for name, path in models.items():
            if args.only and name not in args.only:
                continue
            reranker = load_reranker(path)
            fns = [lambda q, d, r=reranker: r(q, d)]
            if name.endswith("-ce"):
                fns.append(bare_cross_encoder(path))
            elif name == "tiny-qwen2":
                prepare, run = bare_decoder(path)
                fns.append(lambda q, d, prepare=prepare, run=run: run(prepare(q, d)))
            for n in args.depths:
                ours, base = [*per_query(fns, queries, paragraphs, n), float("nan")][:2]
                rows.append((name, n, ours, n / ours, base))
                print(f"{name} N={n}: {ours * 1e3:,.0f} ms / query (bare {base * 1e3:,.0f})", flush=True)
    print(f"\n{args.queries} queries, {args.threads} threads, median per query\n")
    print("| reranker | N | ms / query | pairs / s | bare ms / query | unret / bare |")
    print("| --- | --: | --: | --: | --: | --: |")
    for name, n, ours, rate, base in rows:
        ratio = "-" if np.isnan(base) else f"{ours / base:.2f}"
        bare_ms = "-" if np.isnan(base) else f"{base * 1e3:,.0f}"
        print(f"| {name} | {n} | {ours * 1e3:,.0f} | {rate:,.0f} | {bare_ms} | {ratio} |")


if __name__ == "__main__":
    main()
