"""``emoji``: text → image retrieval over Google's Noto emoji, from the npm package ``emoji-datasource-google``.

A real captioned-image set that a package client can fetch (nothing is committed): the package's
``emoji.json`` names every emoji and ``img/google/64/`` holds a 64×64 RGBA PNG per emoji. The query is the
emoji's name, lowercased with whitespace collapsed (``"grinning face with smiling eyes"``,
``"vatican city flag"``); the document is the image alone (``modality: image``), so text-only retrievers
such as BM25 have nothing to match and score 0 by construction.

Choices, and why:

* **Base emoji only.** Skin-tone variants share their base emoji's name, so they are left out; so are the
  ``Component`` category (bare skin-tone swatches and hair parts, not emoji on their own) and entries
  without a Google image.
* **Deduplication.** A name or an image shared by several emoji (e.g. the Norway and Svalbard flags are
  the same picture; ``"family"`` and ``"family: adult, adult, child"`` too) would have several right answers
  but one judgement, so *every* copy is dropped, as ``stdlib-code`` does.
* **Splits by subcategory** (``country-flag``, ``animal-mammal``, ``time``…), filled to ~80/10/10 of the
  pairs by :func:`unret.datasets.stdlib_code.assign_splits`: related emoji (all clock faces, all country
  flags, ``man/woman/person in tuxedo``) never straddle train and test, so a trained model is tested on
  kinds of emoji it has not seen.
* **One corpus for all splits**: every split's queries search all images (about 1,900), and each
  document's ``metadata.split`` says where it belongs.

Output (BEIR format, read by :func:`unret.formats.load_beir`): ``images/*.png`` (copied from the
package), ``corpus.jsonl`` (``image`` paths relative to the folder), ``queries.jsonl``,
``qrels/{train,dev,test}.tsv``, ``train.jsonl`` (``{"query", "positives": [{"image"}], "negatives": []}``)
and ``stats.json``. The images are Noto Emoji (Apache-2.0), the data file MIT (Cal Henderson's emoji-data).

Run: ``python -m unret.datasets.emoji OUT_DIR [--source FOLDER_OR_TGZ] [--version 16.0.0] [--seed 0]``;
without ``--source`` the package is fetched with ``npm pack`` into a temporary folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from unret.atomic import atomic_write_text
from unret.datasets.stdlib_code import SPLITS, assign_splits
from unret.formats import write_jsonl, write_qrels

NAME = "emoji"
PACKAGE = "emoji-datasource-google"
DEFAULT_VERSION = "16.0.0"  # pinned so a build is reproducible; stats.json records the version used
IMAGE_DIR = "img/google/64"
SKIP_CATEGORIES = frozenset({"Component"})
IMAGES_OUT = "images"


@dataclass
class Emoji:
    """One emoji with a Google image, before deduplication and splitting."""

    doc_id: str  # the image's file stem: the emoji's code points, e.g. "1f604"
    query: str
    name: str
    short_name: str
    category: str
    subcategory: str
    image: Path
    digest: str  # sha256 of the PNG bytes


def fetch_package(dest: str | os.PathLike, version: str | None = DEFAULT_VERSION) -> Path:
    """``npm pack`` the package into ``dest`` and unpack what the builder reads; returns the package root."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm not found: install Node.js, or pass source= a folder holding an unpacked "
                                f"{PACKAGE} package (emoji.json and {IMAGE_DIR}/)")
    spec = f"{PACKAGE}@{version}" if version else PACKAGE
    done = subprocess.run([npm, "pack", spec, "--silent"], cwd=dest, capture_output=True, text=True, check=False)
    tarballs = sorted(dest.glob("*.tgz"))
    if done.returncode != 0 or not tarballs:
        raise RuntimeError(f"`npm pack {spec}` failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    return unpack(tarballs[-1], dest)


def _wanted(member: str) -> bool:
    parts = member.split("/")
    if len(parts) < 2 or ".." in parts or member.startswith("/"):
        return False
    rel = "/".join(parts[1:])  # npm tarballs put everything under one top folder, usually "package/"
    return rel in ("emoji.json", "package.json", "LICENSE") or (
        rel.startswith(IMAGE_DIR + "/") and rel.endswith(".png") and rel.count("/") == IMAGE_DIR.count("/") + 1)


def unpack(tarball: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Extract ``emoji.json``, ``package.json``, the license and the 64 px PNGs of an npm tarball."""
    dest = Path(dest)
    with tarfile.open(tarball, "r:gz") as tar:
        members = [m for m in tar.getmembers() if m.isfile() and _wanted(m.name)]
        if not members:
            raise ValueError(f"{tarball} holds no emoji.json / {IMAGE_DIR} images; is it {PACKAGE}?")
        extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(dest, members=members, **extra)  # members filtered above: no paths outside dest
    return package_root(dest / members[0].name.split("/")[0])


def package_root(source: str | os.PathLike) -> Path:
    """The folder holding ``emoji.json``: ``source`` itself or its ``package/`` subfolder (as npm unpacks)."""
    source = Path(source)
    for root in (source, source / "package"):
        if (root / "emoji.json").is_file():
            return root
    raise FileNotFoundError(f"no emoji.json in {source} or {source / 'package'}: not an unpacked {PACKAGE}")


def read_emoji(root: Path, counts: Counter) -> list[Emoji]:
    """The base emoji of ``root/emoji.json`` that have a readable Google PNG (skips are counted)."""
    try:
        entries = json.loads((root / "emoji.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{root / 'emoji.json'}: invalid JSON ({e.msg})") from None
    out = []
    for entry in entries:
        counts["emoji"] += 1
        if entry.get("category") in SKIP_CATEGORIES:
            counts["component"] += 1
            continue
        name = " ".join(str(entry.get("name") or "").split())
        if not name:
            counts["no_name"] += 1
            continue
        if not entry.get("has_img_google", True) or not entry.get("image"):
            counts["no_google_image"] += 1
            continue
        image = root / IMAGE_DIR / entry["image"]
        if not image.is_file():
            counts["missing_image"] += 1
            continue
        try:
            with Image.open(image) as img:
                img.verify()
        except (OSError, UnidentifiedImageError, SyntaxError):
            counts["unreadable_image"] += 1
            continue
        counts["skin_variations"] += len(entry.get("skin_variations") or {})
        out.append(Emoji(doc_id=Path(entry["image"]).stem.lower(), query=name.lower(), name=name,
                         short_name=entry.get("short_name") or "", category=entry.get("category") or "",
                         subcategory=entry.get("subcategory") or entry.get("category") or "",
                         image=image, digest=hashlib.sha256(image.read_bytes()).hexdigest()))
    return out


def deduplicate(emoji: list[Emoji], counts: Counter) -> list[Emoji]:
    """Drop every emoji whose name, or whose image bytes, occur more than once (all copies)."""
    names, images = Counter(e.query for e in emoji), Counter(e.digest for e in emoji)
    ids = Counter(e.doc_id for e in emoji)
    kept = []
    for e in emoji:
        if names[e.query] > 1:
            counts["duplicate_name"] += 1
        elif images[e.digest] > 1:
            counts["duplicate_image"] += 1
        elif ids[e.doc_id] > 1:
            counts["duplicate_id"] += 1
        else:
            kept.append(e)
    return kept


def build_emoji(out_dir: str | os.PathLike, source: str | os.PathLike | None = None,
                version: str | None = DEFAULT_VERSION, seed: int = 0) -> dict[str, Any]:
    """Write the ``emoji`` BEIR folder to ``out_dir`` and return its statistics.

    ``source`` is an unpacked package folder (or its parent, as npm unpacks it) or a ``.tgz``; without it
    ``npm pack`` fetches ``emoji-datasource-google@version`` into a temporary folder, deleted afterwards.
    """
    with tempfile.TemporaryDirectory(prefix="unret-emoji-") as tmp:
        if source is None:
            root = fetch_package(tmp, version)
            origin = f"npm:{PACKAGE}@{version}" if version else f"npm:{PACKAGE}"
        elif str(source).endswith((".tgz", ".tar.gz")):
            root, origin = unpack(source, tmp), str(source)
        else:
            root, origin = package_root(source), str(source)
        return _build(root, Path(out_dir), origin, seed)


def _build(root: Path, out: Path, origin: str, seed: int) -> dict[str, Any]:
    counts: Counter = Counter()
    emoji = deduplicate(read_emoji(root, counts), counts)
    if not emoji:
        raise ValueError(f"no usable emoji in {root} (counts: {dict(counts)})")
    package = json.loads((root / "package.json").read_text()) if (root / "package.json").is_file() else {}
    split_of = assign_splits(dict(Counter(e.subcategory for e in emoji)), seed)
    splits = [split_of[e.subcategory] for e in emoji]

    out.mkdir(parents=True, exist_ok=True)
    images = out / IMAGES_OUT
    images.mkdir(exist_ok=True)
    keep = {f"{e.doc_id}.png" for e in emoji}
    for stale in images.glob("*.png"):  # a rebuild with another version must not leave orphans behind
        if stale.name not in keep:
            stale.unlink()
    corpus_rows, query_rows = [], []
    qrels: dict[str, dict[str, dict[str, int]]] = {s: {} for s in SPLITS}
    for e, split in zip(emoji, splits, strict=True):
        shutil.copyfile(e.image, images / f"{e.doc_id}.png")
        meta = {"name": e.name, "short_name": e.short_name, "category": e.category, "subcategory": e.subcategory,
                "split": split}
        corpus_rows.append({"_id": e.doc_id, "title": "", "text": "", "image": f"{IMAGES_OUT}/{e.doc_id}.png",
                            "modality": "image", "metadata": meta})
        query_rows.append({"_id": f"q:{e.doc_id}", "text": e.query, "metadata": meta})
        qrels[split][f"q:{e.doc_id}"] = {e.doc_id: 1}
    write_jsonl(out / "corpus.jsonl", corpus_rows)
    write_jsonl(out / "queries.jsonl", query_rows)
    for split in SPLITS:
        write_qrels(out / "qrels" / f"{split}.tsv", qrels[split])
    write_jsonl(out / "train.jsonl", (
        {"query": e.query, "positives": [{"image": f"{IMAGES_OUT}/{e.doc_id}.png"}], "negatives": []}
        for e, split in zip(emoji, splits, strict=True) if split == "train"
    ))

    stats: dict[str, Any] = {
        "name": NAME,
        "package": PACKAGE,
        "version": package.get("version"),
        "source": origin,
        "seed": seed,
        **{k: counts[k] for k in ("emoji", "component", "no_name", "no_google_image", "missing_image",
                                  "unreadable_image", "skin_variations", "duplicate_name", "duplicate_image",
                                  "duplicate_id")},
        "corpus": len(emoji),
        "pairs": {s: splits.count(s) for s in SPLITS},
        "subcategories": {s: len({e.subcategory for e, x in zip(emoji, splits, strict=True) if x == s})
                          for s in SPLITS},
        "categories": dict(sorted(Counter(e.category for e in emoji).items())),
    }
    atomic_write_text(out / "stats.json", json.dumps(stats, indent=2) + "\n")
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: build the set and print its statistics as JSON."""
    parser = argparse.ArgumentParser(prog="python -m unret.datasets.emoji", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", help="folder to write the BEIR data set to")
    parser.add_argument("--source", default=None, help="unpacked package folder or .tgz (default: npm pack)")
    parser.add_argument("--version", default=DEFAULT_VERSION, help=f"{PACKAGE} version for npm pack")
    parser.add_argument("--seed", type=int, default=0, help="salt of the hash that orders subcategories into splits")
    args = parser.parse_args(argv)
    stats = build_emoji(args.out_dir, source=args.source, version=args.version, seed=args.seed)
    print(json.dumps(stats, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
