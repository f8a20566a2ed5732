"""Code search over a library no test fixture was built from: one vector per file vs chunked indexing.

The corpus is an installed package's Python source (default: click) with every docstring removed; the
queries are those docstrings' first sentences, each judged relevant to the file that defines the function
(file-level: nDCG@10 / Recall@10 / MRR@10 over files, a chunked index ranking each file by its best
chunk) and, for the chunked index, to the chunk holding the function ("function found in top 10"). Both
indexes use the same model (all-MiniLM-L6-v2, real weights, CPU) through `unret.files.index_paths`.

A second measurement indexes the same corpus next to photos with that text-only model: images are
counted and never decoded or encoded, so it takes about as long as without them.

    python benchmarks/code_corpus_bench.py                      # click, ~3-5 min on 2 CPU cores
    python benchmarks/code_corpus_bench.py --package jsonargparse --queries 200 --out results.json
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import random
import re
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from unret import UnifiedRetriever
from unret.corpus import canonical_id
from unret.evaluation.metrics import evaluate_run
from unret.files import chunk_settings, index_paths

MODEL = "unret-offline/all-MiniLM-L6-v2"
METRICS = ["nDCG@10", "Recall@10", "MRR@10"]


def strip_docstrings(source: str) -> str:
    """``source`` without module, class and function docstrings (a body left empty gets ``...``)."""
    tree = ast.parse(source)
    lines = source.splitlines()
    cuts = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
                    first.value.value, str):
                indent = " " * first.col_offset
                cuts.append((first.lineno, first.end_lineno, indent if len(node.body) == 1 else None))
    for start, end, stub in sorted(cuts, reverse=True):
        lines[start - 1 : end] = [f"{stub}..."] if stub is not None else []
    return "\n".join(lines) + "\n"


def first_sentence(doc: str) -> str:
    text = " ".join(doc.strip().split("\n\n")[0].split())
    return re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0].strip()


def build(package: str, work: Path, max_queries: int, seed: int) -> tuple[Path, dict[str, dict]]:
    """Copy ``package`` without docstrings into ``work/corpus``; queries {qid: {text, file, start, end}}."""
    root = Path(importlib.import_module(package).__file__).parent
    corpus = work / "corpus"
    candidates = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        docs = {}
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and ast.get_docstring(node):
                sentence = first_sentence(ast.get_docstring(node))
                if len(sentence.split()) >= 4 and not node.name.startswith("__"):
                    docs[(node.name, node.lineno)] = sentence
        target = corpus / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        stripped = strip_docstrings(source)
        target.write_text(stripped, encoding="utf-8")
        # find each function again in the stripped file (same order of definitions by name)
        functions = (ast.FunctionDef, ast.AsyncFunctionDef)
        spans = [(n.name, n.lineno, n.end_lineno) for n in ast.walk(ast.parse(stripped)) if isinstance(n, functions)]
        originals = [(n.name, n.lineno) for n in ast.walk(tree) if isinstance(n, functions)]
        for (name, line), (name2, start, end) in zip(originals, spans, strict=True):
            assert name == name2
            if (name, line) in docs:
                candidates.append({"text": docs[(name, line)], "file": canonical_id(target), "start": start,
                                   "end": end, "function": name})
    seen, unique = set(), []
    for c in candidates:  # one query per distinct sentence
        if c["text"].lower() not in seen:
            seen.add(c["text"].lower())
            unique.append(c)
    random.Random(seed).shuffle(unique)
    return corpus, {f"q{i}": q for i, q in enumerate(unique[:max_queries])}


def evaluate_mode(model: UnifiedRetriever, corpus: Path, queries: dict[str, dict], mode: str) -> dict:
    r = UnifiedRetriever(model.backbone, model.model_ref)
    t = time.perf_counter()
    report = index_paths(r, [corpus], batch_size=32, show_progress=False, settings=chunk_settings(r, mode))
    index_s = time.perf_counter() - t
    qids = list(queries)
    t = time.perf_counter()
    hits = r.search([queries[q]["text"] for q in qids], k=min(len(r), 200), exact=True)
    search_s = time.perf_counter() - t
    run, located = {}, 0
    for qid, ranked in zip(qids, hits, strict=True):
        files: dict[str, float] = {}
        for h in ranked:
            files.setdefault(h.metadata["source"], h.score)  # a file's score: its best chunk
        run[qid] = dict(list(files.items())[:100])
        q = queries[qid]
        located += any(h.metadata["source"] == q["file"] and h.metadata.get("start_line", 1) <= q["end"]
                       and h.metadata.get("end_line", 10**9) >= q["start"] for h in ranked[:10])
    qrels = {qid: {q["file"]: 1} for qid, q in queries.items()}
    scores = evaluate_run(qrels, run, METRICS)
    return {"mode": mode, "items": len(r), "truncated": len(report.truncated), "index_s": round(index_s, 1),
            "search_s": round(search_s, 2), **{m: round(scores[m], 4) for m in METRICS},
            "function@10": round(located / len(queries), 4) if mode == "auto" else None}


def images_timing(model: UnifiedRetriever, corpus: Path, work: Path, n_images: int) -> dict:
    """Index the corpus with and without ``n_images`` 640×480 JPEGs beside it (text-only model); best of 2."""
    mixed = work / "mixed"
    shutil.copytree(corpus, mixed / "code")
    rng = np.random.default_rng(0)
    (mixed / "photos").mkdir()
    for i in range(n_images):
        pixels = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(mixed / "photos" / f"{i:04d}.jpg", quality=90)
    times: dict[str, tuple[float, int, int]] = {}
    runs = [("without images", [mixed / "code"]), ("with images", [mixed])]
    for name, paths in runs + runs[::-1]:  # twice, in both orders; the faster of each (a shared machine is noisy)
        r = UnifiedRetriever(model.backbone, model.model_ref)
        t = time.perf_counter()
        report = index_paths(r, paths, batch_size=32, show_progress=False)
        elapsed = time.perf_counter() - t
        if name not in times or elapsed < times[name][0]:
            times[name] = (elapsed, len(r), report.unsupported)
    return {"images": n_images, "without_s": round(times["without images"][0], 1),
            "with_s": round(times["with images"][0], 1),
            "ratio": round(times["with images"][0] / times["without images"][0], 3),
            "items": times["with images"][1], "images_not_encoded": times["with images"][2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--package", default="click", help="an installed package whose source is the corpus")
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--images", type=int, default=200, help="photos beside the code for the timing run (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the results as JSON")
    args = parser.parse_args()
    model = UnifiedRetriever.from_pretrained(MODEL)
    with tempfile.TemporaryDirectory() as tmp:
        corpus, queries = build(args.package, Path(tmp), args.queries, args.seed)
        files = sum(1 for _ in corpus.rglob("*.py"))
        print(f"{args.package}: {files} files, {len(queries)} docstring queries (docstrings removed from the corpus)\n")
        rows = [evaluate_mode(model, corpus, queries, mode) for mode in ("none", "auto")]
        print("| indexing | items | truncated | nDCG@10 | Recall@10 | MRR@10 | function@10 | index s |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for row in rows:
            label = "file-level (--chunking none)" if row["mode"] == "none" else "chunked (--chunking auto)"
            fn = "–" if row["function@10"] is None else f"{row['function@10']:.4f}"
            print(f"| {label} | {row['items']} | {row['truncated']} | {row['nDCG@10']:.4f} | {row['Recall@10']:.4f} | "
                  f"{row['MRR@10']:.4f} | {fn} | {row['index_s']} |")
        timing = images_timing(model, corpus, Path(tmp), args.images) if args.images else None
        if timing:
            print(f"\ntext-only model, {timing['images']} 640×480 JPEGs beside the code (best of 2): "
                  f"{timing['without_s']} s without, {timing['with_s']} s with ({timing['ratio']}×); "
                  f"{timing['images_not_encoded']} images not encoded")
    if args.out:
        Path(args.out).write_text(json.dumps({"package": args.package, "queries": len(queries), "rows": rows,
                                              "images": timing}, indent=2))


if __name__ == "__main__":
    main()
