"""Content keys (unret.keys): one rule for images and text, in caches and corpus fingerprints."""

from __future__ import annotations

import hashlib
import os
import shutil

from tests.conftest import random_image
from unret.items import Code, Text, to_item
from unret.keys import corpus_fingerprint, image_digest, item_key


def test_an_image_key_follows_content_not_path_or_time(tmp_path):
    a = tmp_path / "a.png"
    random_image(20, 20, seed=1).save(a)
    copy = tmp_path / "sub" / "copy.png"
    copy.parent.mkdir()
    shutil.copy(a, copy)
    os.utime(copy, ns=(1, 1))
    assert item_key(to_item(a)) == item_key(to_item(copy))  # same bytes, other path and mtime
    assert image_digest(a) == hashlib.sha256(a.read_bytes()).hexdigest()
    random_image(20, 20, seed=2).save(copy)
    assert item_key(to_item(a)) != item_key(to_item(copy))  # edited in place: a new key


def test_item_keys_separate_fields_context_and_modalities():
    assert item_key(to_item("ab"), ("query", "c")) != item_key(to_item("abc"), ("query", ""))
    assert item_key(to_item("x")) != item_key(to_item(Code("x")))
    assert item_key(to_item(Code("x", "python"))) != item_key(to_item(Code("x", "ruby")))
    assert item_key(to_item("x"), ("query",)) != item_key(to_item("x"), ("document",))
    img = random_image(8, 8, seed=3)
    assert item_key(to_item(img)) == item_key(to_item(img.copy()))
    assert item_key(to_item(img)) != item_key(to_item((img, "caption")))


def _frame(s: str) -> bytes:
    b = s.encode()
    return len(b).to_bytes(8, "little") + b


def test_corpus_fingerprint_matches_an_independent_computation(tmp_path):
    image = tmp_path / "i.png"
    random_image(10, 10).save(image)
    corpus = {"t": Text("hello"), "c": Code("def f(): pass", "python"), "i": image, "p": (image, "caption")}
    h = hashlib.sha256()
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    for doc_id, parts in sorted({"t": ("text", "", "hello", ""), "c": ("code", "python", "def f(): pass", ""),
                                 "i": ("image", "", "", digest), "p": ("image+text", "", "caption", digest)}.items()):
        h.update(_frame(doc_id) + b"".join(_frame(p) for p in parts))
    assert corpus_fingerprint(corpus) == h.hexdigest()
    assert corpus_fingerprint(dict(reversed(corpus.items()))) == h.hexdigest()  # line order does not matter


def test_bytes_and_files_hash_alike(tmp_path):
    from unret.corpus import sha256_bytes
    from unret.keys import content_digest, file_digest

    path = tmp_path / "a.py"
    path.write_bytes(b"def f():\n    return 1\n")
    assert content_digest(path.read_bytes()) == file_digest(path) == sha256_bytes(path.read_bytes())
