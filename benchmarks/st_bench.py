"""unret against sentence-transformers (the peer, and its reference): encode throughput, same model, same
inputs, same vectors.

* MiniLM (real all-MiniLM-L6-v2 weights) over a real code corpus: functions of the standard library
  (``unret.datasets.stdlib_code``), as documents;
* a Qwen2.5-VL packaged with sentence-transformers itself (last-token pooling, Normalize, query/document
  prompts as system turns), loaded by both from the same folder: text, images, and mixed text + image +
  image-with-text batches. Images are generated at sizes the processor keeps as they are, so both read the
  same pixels and the vectors must agree (the max |Δ| column checks it).

Each cell is the best of ``--repeats`` timed runs after a warm-up, same batch size for both, one torch
thread by default; the two libraries' runs alternate, so a busy machine slows both alike (compare ratios,
not absolute rates). Vectors must agree within 1e-4 (checked: the run fails otherwise).

    python benchmarks/st_bench.py                  # MiniLM + tiny Qwen2.5-VL (a few minutes on a busy machine)
    python benchmarks/st_bench.py --only minilm    # one workload family
    python benchmarks/st_bench.py --config mid     # a mid-size random Qwen2.5-VL (several minutes)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from encode_bench import CONFIGS
from PIL import Image

from unret import Code, UnifiedRetriever
from unret.datasets.stdlib_code import collect_pairs, stdlib_dir
from unret.offline_models import minilm_path
from unret.testing import tiny_qwen25_vl_path

TOL = 1e-4


def best_times(fns, repeats: int) -> list[float]:
    """Best wall time of each function, runs interleaved (A B A B …) so load on a shared machine hits both."""
    for fn in fns:
        fn()  # warm-up (lazy initialisation, allocator)
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def st_package(source: Path, out: Path) -> Path:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    transformer = Transformer(str(source))
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="lasttoken")
    model = SentenceTransformer(modules=[transformer, pooling, Normalize()],
                                prompts={"query": "Find the passage, code or image that answers the question.",
                                         "document": "Represent this document for retrieval."})
    model.save(str(out))
    return out


def images(n: int, side: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    sizes = [(side, side), (side, side // 2), (side // 2, side)]
    return [Image.fromarray(rng.integers(0, 255, (sizes[i % 3][1], sizes[i % 3][0], 3), dtype=np.uint8))
            for i in range(n)]


def compare(name: str, st_model, ours: UnifiedRetriever, st_inputs: list, our_inputs: list, batch_size: int,
            repeats: int) -> tuple:
    def run_st():
        return st_model.encode_document(st_inputs, batch_size=batch_size, convert_to_tensor=True)

    def run_ours():
        return ours.encode_documents(our_inputs, batch_size=batch_size, show_progress=False)

    t_st, t_ours = best_times([run_st, run_ours], repeats)
    delta = float((run_st().float() - run_ours()).abs().max())
    assert delta <= TOL, f"{name}: vectors differ from sentence-transformers' by {delta:.1e} (> {TOL})"
    n = len(st_inputs)
    return name, n, n / t_st, n / t_ours, t_st / t_ours, delta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=["tiny", "mid"], default="tiny")
    parser.add_argument("--only", choices=["minilm", "qwen"], help="run one workload family")
    parser.add_argument("--code-docs", type=int, default=256, help="stdlib functions for MiniLM")
    parser.add_argument("--vl-items", type=int, default=48, help="items per Qwen2.5-VL workload")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from sentence_transformers import SentenceTransformer

    pairs = collect_pairs(stdlib_dir(), modules=["json", "email", "collections", "http", "asyncio", "logging",
                                                 "pathlib", "argparse", "unittest", "xml", "urllib", "csv"])
    code = [p.code for p in pairs][: args.code_docs]
    questions = [p.query for p in pairs][: args.vl_items]
    rows = []
    if args.only != "qwen":
        minilm = str(minilm_path())
        rows.append(compare("MiniLM, stdlib code", SentenceTransformer(minilm, device="cpu"),
                            UnifiedRetriever.from_pretrained(minilm), code, [Code(c, "python") for c in code],
                            args.batch_size, args.repeats))
    if args.only != "minilm":
        rows += qwen_rows(args, questions)
    print(f"\nencode_documents throughput, batch size {args.batch_size}, {args.threads} threads "
          f"(best of {args.repeats})\n")
    print(f"| {'workload':<28} | {'items':>5} | {'sentence-transformers/s':>23} | {'unret/s':>8} | "
          f"{'unret ÷ ST':>10} | {'max |Δ|':>8} |")
    print(f"|{'-' * 30}|{'-' * 7}|{'-' * 25}|{'-' * 10}|{'-' * 12}|{'-' * 10}|")
    for name, n, st_rate, our_rate, ratio, delta in rows:
        print(f"| {name:<28} | {n:>5} | {st_rate:>23.1f} | {our_rate:>8.1f} | {ratio:>9.2f}× | {delta:>8.1e} |")


def qwen_rows(args, questions: list[str]) -> list[tuple]:
    from sentence_transformers import SentenceTransformer

    rows = []
    config = dict(CONFIGS[args.config])
    source = tiny_qwen25_vl_path(**config)
    with tempfile.TemporaryDirectory() as tmp:
        folder = st_package(source, Path(tmp) / "qwen25vl-st")
        st_model = SentenceTransformer(str(folder), device="cpu")
        ours = UnifiedRetriever.from_pretrained(folder)
        side = int((ours.backbone.max_pixels) ** 0.5) // 28 * 28  # at the processor's own size: no resize
        pics = images(args.vl_items, side)
        mixed_st, mixed_ours = [], []
        for i in range(args.vl_items):
            kind = i % 3
            item = (questions[i] if kind == 0 else pics[i] if kind == 1
                    else {"image": pics[i], "text": questions[i]})
            mixed_st.append(item)
            mixed_ours.append(item)
        label = f"Qwen2.5-VL {args.config}"
        for name, st_inputs in ((f"{label}, text", questions), (f"{label}, images", pics),
                                (f"{label}, mixed", mixed_st)):
            our_inputs = mixed_ours if st_inputs is mixed_st else st_inputs
            rows.append(compare(name, st_model, ours, st_inputs, our_inputs, args.batch_size, args.repeats))
    return rows


if __name__ == "__main__":
    main()
