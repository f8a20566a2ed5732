"""Indexing real files: chunked search, incremental sync, canonical ids, per-file failures, modality check."""

from __future__ import annotations

import argparse
import ast
import json.decoder
import os
import shutil
import struct
import textwrap
import zlib
from pathlib import Path

import pytest

from tests.conftest import random_image
from unret import UnifiedRetriever
from unret.corpus import canonical_id
from unret.files import chunk_settings, index_paths, indexed_sources

STDLIB = Path(argparse.__file__).parent


@pytest.fixture(scope="module")
def minilm(minilm_path):
    return UnifiedRetriever.from_pretrained(minilm_path)


def _fresh(model: UnifiedRetriever) -> UnifiedRetriever:
    return UnifiedRetriever(model.backbone, model.model_ref, model.truncate_dim)


class EncodeSpy:
    """Counts the items each encode_documents call embeds (and what modalities they were)."""

    def __init__(self, retriever, monkeypatch):
        self.calls: list[list[str]] = []
        original = retriever.encode_documents

        def spy(items, **kwargs):
            self.calls.append([it.modality for it in items])
            return original(items, **kwargs)

        monkeypatch.setattr(retriever, "encode_documents", spy)

    @property
    def items(self) -> int:
        return sum(len(c) for c in self.calls)


def _copy(names: list[str], dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        target = dest / name.replace("/", "_")
        shutil.copy(STDLIB / name, target)
        out.append(target)
    return out


def test_a_large_module_is_found_by_a_query_for_one_of_its_functions(minilm, tmp_path):
    files = _copy(["argparse.py", "json/decoder.py", "fnmatch.py"], tmp_path / "corpus")
    r = _fresh(minilm)
    report = index_paths(r, [tmp_path / "corpus"], show_progress=False, batch_size=32)
    assert report.new_files == len(files) and not report.skipped
    hits = r.search("add a group of mutually exclusive command line options", k=3, exact=True)
    top = hits[0].metadata
    assert top["source"] == canonical_id(tmp_path / "corpus" / "argparse.py")
    tree = ast.parse((tmp_path / "corpus" / "argparse.py").read_text())
    wanted = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)
              and n.name == "add_mutually_exclusive_group"]
    assert any(top["start_line"] <= line <= top["end_line"] for line in wanted), top
    assert top["language"] == "python" and "def add_mutually_exclusive_group" in top["snippet"]
    assert len(r) > 100 and len({h.metadata["source"] for h in r.search("parse", k=50, exact=True)}) > 1
    # the same model on whole files: one vector each, flagged as truncated (argparse is ~25k tokens)
    whole = _fresh(minilm)
    report = index_paths(whole, [tmp_path / "corpus"], show_progress=False, settings=chunk_settings(whole, "none"))
    assert len(whole) == len(files) and canonical_id(tmp_path / "corpus" / "argparse.py") in report.truncated


def test_sync_skips_unchanged_reembeds_changed_and_removes_deleted(minilm, tmp_path, monkeypatch):
    root = tmp_path / "corpus"
    a, b, c = _copy(["json/decoder.py", "shlex.py", "fnmatch.py"], root)
    r = _fresh(minilm)
    first = index_paths(r, [root], show_progress=False)
    sources = indexed_sources(r.index)
    assert set(sources) == {canonical_id(p) for p in (a, b, c)} and len(r) == len(first.added)

    spy = EncodeSpy(r, monkeypatch)
    again = index_paths(r, [root], show_progress=False, sync=True)
    assert spy.calls == [] and again.unchanged_files == 3 and not again.added  # encode never called

    os.utime(b, ns=(b.stat().st_atime_ns, b.stat().st_mtime_ns + 10**9))  # touched, same bytes: hashed, not embedded
    c.write_text(c.read_text() + "\n\ndef shout(text):\n    return text.upper() + '!'\n")
    a.unlink()
    before_c = set(sources[canonical_id(c)]["ids"])
    third = index_paths(r, [root], show_progress=False, sync=True)
    assert (third.changed_files, third.unchanged_files, third.deleted_files, third.new_files) == (1, 1, 1, 0)
    assert spy.items == len(third.added) and all(i.startswith(canonical_id(c)) for i in third.added)
    after = indexed_sources(r.index)
    assert set(after) == {canonical_id(b), canonical_id(c)}  # the deleted file's chunks are gone
    assert set(sources[canonical_id(b)]["ids"]) == set(after[canonical_id(b)]["ids"])
    assert set(after[canonical_id(c)]["ids"]) == set(third.added) and set(third.added) != before_c
    hit = r.search("shout the text in upper case", k=1, exact=True)[0]
    assert hit.metadata["source"] == canonical_id(c) and "def shout" in hit.metadata["snippet"]
    whole = index_paths(r, [root], show_progress=False, settings=chunk_settings(r, "none"))  # other settings
    assert whole.changed_files == 2 and len(r) == 2 and set(r.index.ids()) == {canonical_id(b), canonical_id(c)}


def test_three_spellings_of_one_path_are_one_file(minilm, tmp_path, monkeypatch):
    root = tmp_path / "corpus"
    (path,) = _copy(["fnmatch.py"], root)
    (tmp_path / "link").symlink_to(root)
    monkeypatch.chdir(tmp_path)
    r = _fresh(minilm)
    for spelling in ("corpus/fnmatch.py", str(tmp_path / "link" / ".." / "corpus" / "fnmatch.py"),
                     str(tmp_path / "link" / "fnmatch.py")):
        index_paths(r, [spelling], show_progress=False)
    assert set(indexed_sources(r.index)) == {str(path.resolve())}
    assert len(r) == len(index_paths(_fresh(minilm), [path], show_progress=False).added)


def _bomb_png(path: Path, side: int = 30000) -> None:
    """A real 1-bit PNG of side×side white pixels (~110 KB on disk, 900 Mpx decoded): a decompression bomb."""
    row = b"\x00" + b"\x00" * (side // 8)
    z = zlib.compressobj(9)
    data = b"".join(z.compress(row) for _ in range(side)) + z.flush()

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def test_one_bad_file_never_aborts_the_run(tiny_vl_path, tmp_path):
    root = tmp_path / "corpus"
    _copy(["fnmatch.py"], root)
    random_image(40, 30).save(root / "ok.png")
    _bomb_png(root / "bomb.png")
    odd = os.fsencode(root) + b"/caf\xe9.txt"  # a file name that is not valid UTF-8
    with open(odd, "wb") as f:
        f.write(b"cafe notes: espresso and croissants")
    r = UnifiedRetriever.from_pretrained(tiny_vl_path)
    report = index_paths(r, [root], show_progress=False)
    assert [s for s, _ in report.skipped] == [canonical_id(root / "bomb.png")]
    assert "exceeds limit" in report.skipped[0][1] or "decompression bomb" in report.skipped[0][1].lower()
    escaped = str(root.resolve()) + "/caf\\xe9.txt"
    assert escaped in r.index and canonical_id(root / "ok.png") in r.index
    r.save(tmp_path / "idx")  # every id is storable
    assert escaped in UnifiedRetriever.load(tmp_path / "idx").index


def test_text_only_model_never_encodes_images(minilm, tmp_path, monkeypatch):
    root = tmp_path / "corpus"
    _copy(["fnmatch.py"], root)
    for i in range(5):
        random_image(64, 48, seed=i).save(root / f"photo{i}.png")
    (root / "notes.md").write_text(textwrap.dedent(json.decoder.__doc__ or "JSON decoding."))
    r = _fresh(minilm)
    spy = EncodeSpy(r, monkeypatch)
    report = index_paths(r, [root], show_progress=False)
    assert report.unsupported == 5 and not report.skipped and report.new_files == 2
    assert all(m in ("text", "code") for call in spy.calls for m in call) and len(spy.calls) == 1


def test_search_rejects_an_unknown_modality(minilm, tmp_path):
    from unret import InputError

    r = _fresh(minilm)
    r.add(["rivers flow to the sea"], ids=["a"])
    with pytest.raises(InputError, match="unknown modality 'imgae'"):
        r.search("water", modality="imgae")
    with pytest.raises(InputError, match="unknown modality"):
        r.search("water", modality=["text", "codes"])
    assert r.search("water", modality="image") == []  # a known modality with no items is just empty
