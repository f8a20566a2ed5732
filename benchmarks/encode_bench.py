"""Encoding throughput: ``UnifiedRetriever.encode_documents`` against the bare model loop it wraps.

The bare loop runs ``model(**inputs)`` + last-token pooling over batches prepared *before* the clock
starts, so the ratio unret/bare is exactly the cost of unret's pipeline (input normalisation, prompts,
tokenisation, image decoding and resizing, batching, order restoration). A second table compares
length-sorted and unsorted batching on a corpus of mixed lengths.

    python benchmarks/encode_bench.py                 # tiny Qwen2.5-VL (seconds)
    python benchmarks/encode_bench.py --config mid    # a mid-size random Qwen2.5-VL (minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import random
import resource
import time

import torch

from unret import Code, UnifiedRetriever
from unret.backbones.base import to_device
from unret.items import to_item
from unret.testing import tiny_qwen25_vl_path

CONFIGS = {
    "tiny": {},
    "mid": {
        "hidden_size": 512,
        "intermediate_size": 1376,
        "num_hidden_layers": 6,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
        "vision_overrides": {
            "depth": 4,
            "hidden_size": 256,
            "intermediate_size": 512,
            "num_heads": 4,
            "out_hidden_size": 512,
        },
    },
}


def corpus(modality: str, n: int, seed: int = 0) -> list:
    rng = random.Random(seed)
    words = [
        "retrieval",
        "embedding",
        "vector",
        "index",
        "query",
        "document",
        "image",
        "code",
        "text",
        "model",
        "search",
        "rank",
    ]
    if modality == "text":
        return [" ".join(rng.choices(words, k=rng.randint(20, 60))) for _ in range(n)]
    if modality == "code":
        return [
            Code(
                f"def f{i}(x):\n"
                + "".join(f"    x = x * {rng.randint(1, 9)} + {j}\n" for j in range(rng.randint(3, 12)))
                + "    return x\n",
                "python",
            )
            for i in range(n)
        ]
    from PIL import Image

    return [Image.effect_noise((rng.randint(40, 200), rng.randint(40, 200)), 64).convert("RGB") for _ in range(n)]


def mixed_lengths(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return ["word " * rng.choice([5, 10, 20, 400]) for _ in range(n)]


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bare_loop(retriever: UnifiedRetriever, inputs: list, batch_size: int):
    backbone = retriever.backbone
    items = [to_item(x) for x in inputs]
    batches = [
        to_device(backbone.prepare(items[i : i + batch_size]), backbone.device)
        for i in range(0, len(items), batch_size)
    ]
    model = backbone.model

    def run():
        with torch.inference_mode():
            for b in batches:
                pos, _ = model.get_rope_index(
                    b["input_ids"],
                    mm_token_type_ids=b["mm_token_type_ids"],
                    image_grid_thw=b.get("image_grid_thw"),
                    attention_mask=b["attention_mask"],
                )
                h = model(**b, position_ids=pos, use_cache=False).last_hidden_state
                torch.nn.functional.normalize(h[:, -1].float(), dim=-1)  # left padding: last column

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="tiny")
    parser.add_argument("-n", type=int, default=128, help="items per modality")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = dict(CONFIGS[args.config])
    path = tiny_qwen25_vl_path(**overrides)
    retriever = UnifiedRetriever.from_pretrained(path)
    print(
        f"model: {args.config} Qwen2.5-VL ({sum(p.numel() for p in retriever.backbone.parameters()) / 1e6:.1f}M "
        f"params), batch {args.batch_size}, {args.n} items/modality, {args.threads} threads, best of {args.repeats}"
    )
    print(f"\n{'modality':<10} {'unret items/s':>14} {'bare items/s':>13} {'unret/bare':>11}")
    for modality in ("text", "code", "image"):
        inputs = corpus(modality, args.n)
        t_unret = timed(
            lambda inputs=inputs: retriever.encode_documents(inputs, batch_size=args.batch_size), args.repeats
        )
        t_bare = timed(bare_loop(retriever, inputs, args.batch_size), args.repeats)
        print(f"{modality:<10} {args.n / t_unret:>14.1f} {args.n / t_bare:>13.1f} {t_bare / t_unret:>11.2f}")
    mixed = mixed_lengths(args.n)
    t_sorted = timed(lambda: retriever.encode_documents(mixed, batch_size=args.batch_size), args.repeats)
    t_unsorted = timed(
        lambda: retriever.encode_documents(mixed, batch_size=args.batch_size, sort_by_length=False), args.repeats
    )
    print(f"\n{'mixed lengths':<14} {'sorted items/s':>15} {'unsorted items/s':>17} {'speed-up':>9}")
    print(f"{'':<14} {args.n / t_sorted:>15.1f} {args.n / t_unsorted:>17.1f} {t_unsorted / t_sorted:>9.2f}")
    print(f"\npeak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
