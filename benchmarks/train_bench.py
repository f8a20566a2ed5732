"""Training step time and memory: Lightning ``RetrieverModule`` against a bare PyTorch loop.

Both run the same forward / InfoNCE / backward / AdamW step on the same pre-collated batches (prepared
before the clock starts), so the ratio Lightning/bare is the cost of the Lightning wrapping alone. Rows
with and without gradient checkpointing and LoRA. Model: a random Qwen2.5-VL (``--config mid`` default, a
size that still trains on 2 CPU cores; ``tiny`` for a quick check).

    python benchmarks/train_bench.py               # ~5 min on 2 cores
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import lightning as L
import torch
from peak_memory import PeakMemory

from unret.testing import tiny_qwen25_vl_path, write_toy_retrieval_jsonl
from unret.training.data import JsonlDataset, RetrievalCollator
from unret.training.module import RetrieverModule

CONFIGS = {
    "tiny": {},
    "mid": {"hidden_size": 512, "intermediate_size": 1376, "num_hidden_layers": 6, "num_attention_heads": 8,
            "num_key_value_heads": 2},
}


class StepTimer(L.Callback):
    def __init__(self) -> None:
        self.times: list[float] = []
        self._start = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.times.append(time.perf_counter() - self._start)


def make_module(path: str, checkpointing: bool, lora: bool, work: str) -> RetrieverModule:
    torch.manual_seed(0)
    return RetrieverModule(path, prompts="supervised", lora=lora, lora_r=8, lora_alpha=16,
                           gradient_checkpointing=checkpointing, learning_rate=1e-4, warmup_ratio=0.0,
                           gather_across_devices=False, export_dir=f"{work}/export")


def bare_steps(module: RetrieverModule, batches: list[dict]) -> list[float]:
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    module.train()
    times = []
    for batch in batches:
        start = time.perf_counter()
        q, docs, mask = module.embed_batch(batch)
        loss = module.infonce(q, docs[:, 0], docs[:, 1:], mask[:, 1:])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return times


def lightning_steps(module: RetrieverModule, batches: list[dict]) -> list[float]:
    timer = StepTimer()
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[timer],
                        num_sanity_val_steps=0)
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None, shuffle=False))
    return timer.times


def run(runner: str, path: str, checkpointing: bool, lora: bool, args: argparse.Namespace) -> tuple[float, float]:
    """One (runner, setting) in this process: (median s/step after 2 warm-up steps, peak MiB)."""
    torch.set_num_threads(args.threads)
    data = JsonlDataset(write_toy_retrieval_jsonl(f"{args.work}/train.jsonl", n=args.batch_size * args.steps))
    module = make_module(path, checkpointing, lora, args.work)
    collate = RetrievalCollator(module.backbone, "contrastive", num_negatives=3)
    batches = [collate([data[i % len(data)] for i in range(s * args.batch_size, (s + 1) * args.batch_size)])
               for s in range(args.steps)]
    with PeakMemory() as memory:
        times = (bare_steps if runner == "bare" else lightning_steps)(module, batches)[2:]
    return statistics.median(times), memory.peak  # the median is robust to a shared machine's spikes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="mid")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", default="/tmp/unret-train-bench")
    args = parser.parse_args()
    path = str(tiny_qwen25_vl_path(**CONFIGS[args.config]))
    print(f"model: {args.config} Qwen2.5-VL, batch {args.batch_size} queries × (1 positive + 3 negatives), "
          f"{args.steps} steps (first 2 dropped as warm-up, median of the rest), {args.threads} threads; "
          f"each run in a fresh process, peak memory measured over the steps only\n")
    print(f"{'setting':<28} {'bare s/step':>12} {'lightning s/step':>17} {'lightning/bare':>15} "
          f"{'bare peak MiB':>14} {'lightning peak MiB':>19} {'ratio':>6}")
    context = multiprocessing.get_context("spawn")  # fresh allocator and caches for every run
    for checkpointing, lora in [(False, False), (True, False), (False, True), (True, True)]:
        results = {}
        for runner in ("bare", "lightning"):
            with ProcessPoolExecutor(1, mp_context=context) as pool:  # workers exit cleanly, unlike Pool's
                results[runner] = pool.submit(run, runner, path, checkpointing, lora, args).result()
        (t_bare, m_bare), (t_lit, m_lit) = results["bare"], results["lightning"]
        label = f"checkpointing={'on' if checkpointing else 'off'}, lora={'on' if lora else 'off'}"
        print(f"{label:<28} {t_bare:>12.3f} {t_lit:>17.3f} {t_lit / t_bare:>15.2f} {m_bare:>14.0f} {m_lit:>19.0f} "
              f"{m_lit / m_bare:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
