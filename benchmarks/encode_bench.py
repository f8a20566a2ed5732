"""Encoding throughput: ``UnifiedRetriever.encode_documents`` against the bare model loop it wraps.

The bare loop runs ``model(**inputs)`` + last-token pooling over batches prepared *before* the clock
starts, so the ratio unret/bare is exactly the cost of unret's pipeline (input normalisation, prompts,
tokenisation, image decoding and resizing, batching, order restoration). A second table compares
length-sorted and unsorted batching on a corpus of mixed lengths.

    python benchmarks/encode_bench.py                 # tiny Qwen2.5-VL (seconds)
    python benchmarks/encode_bench.py --config mid    # a mid-size random Qwen2.5-VL (minutes on 2 cores)
    python benchmarks/encode_bench.py --config 3b --device cuda   # GPU: the real 3B architecture, random
                                                      # bf16 weights (no download), sdpa and flash-attention-2

``--config 3b`` builds Qwen2.5-VL-3B-Instruct's architecture (config values from its config.json) with
random weights directly on the device in bf16, so no checkpoint is needed; ``--layers N`` keeps only N
language and N vision blocks (a CPU smoke test of the GPU path).
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import time
from concurrent.futures import ProcessPoolExecutor

import torch
from peak_memory import PeakMemory

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

# Qwen/Qwen2.5-VL-3B-Instruct config.json: the language model and vision_config.
QWEN25_VL_3B = {
    "text": {"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 11008, "num_hidden_layers": 36,
             "num_attention_heads": 16, "num_key_value_heads": 2, "max_position_embeddings": 128000,
             "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
             "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}},
    "vision": {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
               "out_hidden_size": 2048, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
               "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31], "tokens_per_second": 2,
               "in_channels": 3, "hidden_act": "silu"},
}
REAL_PIXELS = (56 * 56, 28 * 28 * 1280)  # the hub processor's min/max pixels


def real_architecture(device: str, attn_implementation: str, layers: int | None = None) -> UnifiedRetriever:
    """Qwen2.5-VL-3B's architecture with random bf16 weights, built on ``device`` (no checkpoint needed)."""
    from transformers import AutoProcessor, Qwen2_5_VLConfig, Qwen2_5_VLModel

    from unret.backbones.qwen_vl import QwenVLBackbone

    text, vision = dict(QWEN25_VL_3B["text"]), dict(QWEN25_VL_3B["vision"])
    if layers is not None:
        text["num_hidden_layers"] = vision["depth"] = layers
        vision["fullatt_block_indexes"] = [layers - 1]
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, image_token_id=151655,
                              video_token_id=151656, vision_start_token_id=151652, vision_end_token_id=151653,
                              tie_word_embeddings=True)
    config._attn_implementation = attn_implementation
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2_5_VLModel._from_config(config, dtype=torch.bfloat16, attn_implementation=attn_implementation)
    processor = AutoProcessor.from_pretrained(tiny_qwen25_vl_path(pixels=REAL_PIXELS))  # tokenizer + processors
    backbone = QwenVLBackbone(model.eval(), processor)
    return UnifiedRetriever(backbone, {"name_or_path": f"random Qwen2.5-VL-3B architecture ({attn_implementation})"})


def corpus(modality: str, n: int, seed: int = 0, large_images: bool = False) -> list:
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

    side = (200, 700) if large_images else (40, 200)
    return [Image.effect_noise((rng.randint(*side), rng.randint(*side)), 64).convert("RGB") for _ in range(n)]


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


def jpeg_decoding(retriever: UnifiedRetriever, n: int = 24, size: tuple[int, int] = (1600, 1200)) -> None:
    """ms per JPEG file to reach the model's input size: full decode + resize vs. draft decode + resize."""
    import tempfile

    from PIL import Image

    backbone = retriever.backbone
    with tempfile.TemporaryDirectory() as tmp:
        rng = random.Random(0)
        paths = []
        for i in range(n):
            img = Image.linear_gradient("L").resize(size).convert("RGB")
            img.paste(Image.effect_noise((size[0] // 4, size[1] // 4), 30).convert("RGB"),
                      (rng.randint(0, size[0] // 2), rng.randint(0, size[1] // 2)))
            paths.append(f"{tmp}/{i}.jpg")
            img.save(paths[-1], quality=90)
        items = [to_item(p) for p in paths]
        full = timed(lambda: [backbone.input_image(item.load_image()) for item in items], 2)
        draft = timed(lambda: backbone.load_images(items), 2)
    target = backbone.target_size(*size)
    print(f"\n{size[0]}x{size[1]} JPEG files → {target[0]}x{target[1]}: full decode + resize "
          f"{full / n * 1e3:.2f} ms/image, draft decode + resize {draft / n * 1e3:.2f} ms/image "
          f"({full / draft:.2f}x)")


def report(retriever: UnifiedRetriever, args: argparse.Namespace) -> None:
    """The unret/bare table per modality, then sorted vs unsorted batching."""
    print(f"\n{'modality':<10} {'unret items/s':>14} {'bare items/s':>13} {'unret/bare':>11}")
    for modality in ("text", "code", "image"):
        inputs = corpus(modality, args.n, large_images=args.config == "3b")
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


def load_retriever(config: str, device: str, layers: int | None, attn: str = "sdpa") -> UnifiedRetriever:
    if config == "3b":
        return real_architecture(device, attn, layers)
    return UnifiedRetriever.from_pretrained(tiny_qwen25_vl_path(**CONFIGS[config]), device=device)


def memory_run(runner: str, modality: str, args: argparse.Namespace) -> float:
    """MiB one encoding pass adds over what is loaded before it (model; the bare loop's prepared batches)."""
    torch.set_num_threads(args.threads)
    retriever = load_retriever(args.config, args.device, args.layers)
    inputs = corpus(modality, args.n, large_images=args.config == "3b")
    run = (bare_loop(retriever, inputs, args.batch_size) if runner == "bare"
           else lambda: retriever.encode_documents(inputs, batch_size=args.batch_size))
    with PeakMemory() as memory:
        run()
    return memory.added


def memory_table(args: argparse.Namespace) -> None:
    """Peak memory added by one pass, unret vs bare, each in a fresh process (allocator state not shared)."""
    where = "GPU memory" if args.device.startswith("cuda") else "resident memory"
    print(f"\n{'modality':<10} {'unret MiB':>10} {'bare MiB':>9} {'unret/bare':>11}   ({where} added by one pass)")
    context = multiprocessing.get_context("spawn")
    for modality in ("text", "code", "image"):
        added = {}
        for runner in ("unret", "bare"):
            with ProcessPoolExecutor(1, mp_context=context) as pool:  # workers exit cleanly, unlike Pool's
                added[runner] = pool.submit(memory_run, runner, modality, args).result()
        ratio = added["unret"] / added["bare"] if added["bare"] > 0.5 else float("nan")
        print(f"{modality:<10} {added['unret']:>10.1f} {added['bare']:>9.1f} {ratio:>11.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=[*sorted(CONFIGS), "3b"], default="tiny")
    parser.add_argument("-n", type=int, default=128, help="items per modality")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda for --config 3b")
    parser.add_argument("--layers", type=int, default=None, help="--config 3b: keep only this many blocks")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.config == "3b":
        if args.device == "cpu" and args.layers is None:
            parser.error("--config 3b needs --device cuda (or --layers N for a CPU smoke test)")
        try:
            import flash_attn  # noqa: F401

            attentions = ["sdpa", "flash_attention_2"]
        except ImportError:
            attentions = ["sdpa"]
            print("flash-attn is not installed: sdpa only")
        for attn in attentions:
            retriever = real_architecture(args.device, attn, args.layers)
            print(f"\nmodel: random Qwen2.5-VL-3B architecture ({args.layers or 'all'} blocks, "
                  f"{sum(p.numel() for p in retriever.backbone.parameters()) / 1e9:.2f}B params, bf16, {attn}) "
                  f"on {args.device}, batch {args.batch_size}, {args.n} items/modality, best of {args.repeats}")
            report(retriever, args)
            if args.device.startswith("cuda"):
                print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
            del retriever
        memory_table(args)
        return
    retriever = load_retriever(args.config, args.device, args.layers)
    print(
        f"model: {args.config} Qwen2.5-VL ({sum(p.numel() for p in retriever.backbone.parameters()) / 1e6:.1f}M "
        f"params), batch {args.batch_size}, {args.n} items/modality, {args.threads} threads, best of {args.repeats}"
    )
    report(retriever, args)
    jpeg_decoding(retriever)
    memory_table(args)


if __name__ == "__main__":
    main()
