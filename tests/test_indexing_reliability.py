"""Indexing that keeps what the user indexed: --sync removes only files that are gone, a file reached twice is
one file, a removed chunk comes back with its file, empty files are not failures, long lines are chunked
in bounded memory (issue 19 items 3, 5, 8, 9, 18)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from unret import InputError, UnifiedRetriever
from unret.corpus import canonical_id
from unret.files import chunk_settings, index_paths, indexed_sources, remove_sources

PARAGRAPHS = [
    "Rivers carry water from the mountains down to the sea, cutting valleys over thousands of years.",
    "A sourdough starter is a culture of wild yeast and bacteria fed with flour and water every day.",
    "The orbit of a comet is a long ellipse that brings it close to the sun once in many decades.",
    "Chess openings are sequences of moves that develop pieces and fight for the centre of the board.",
]


@pytest.fixture(scope="module")
def minilm(minilm_path):
    return UnifiedRetriever.from_pretrained(minilm_path)


def _fresh(model: UnifiedRetriever) -> UnifiedRetriever:
    return UnifiedRetriever(model.backbone, model.model_ref, model.truncate_dim)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_sync_removes_only_files_that_no_longer_exist(minilm, tmp_path):
    root = tmp_path / "proj"
    visible = _write(root / "a.md", PARAGRAPHS[0])
    notes = _write(root / ".notes" / "n.md", PARAGRAPHS[1])
    vendored = _write(root / "node_modules" / "m.js", "function rivers() { return 'sea'; }\n")
    r = _fresh(minilm)
    index_paths(r, [root], show_progress=False)
    index_paths(r, [notes, vendored], show_progress=False)  # indexed explicitly: a walk of root skips them
    everything = {canonical_id(p) for p in (visible, notes, vendored)}
    assert set(indexed_sources(r.index)) == everything

    kept = index_paths(r, [root], show_progress=False, sync=True)
    assert kept.deleted_files == 0 and kept.removed == 0 and set(indexed_sources(r.index)) == everything

    notes.unlink()
    counted = index_paths(r, [root], show_progress=False)  # without --sync: counted, left in place
    assert counted.missing_files == 1 and set(indexed_sources(r.index)) == everything
    gone = index_paths(r, [root], show_progress=False, sync=True)
    assert gone.deleted_files == 1 and set(indexed_sources(r.index)) == everything - {canonical_id(notes)}


def test_id_exists_reads_escaped_file_names_back(tmp_path):
    import os

    from unret.corpus import id_exists

    odd = os.fsencode(tmp_path) + b"/caf\xe9.txt"
    with open(odd, "wb") as f:
        f.write(b"x")
    source = canonical_id(os.fsdecode(odd))
    assert source.endswith("caf\\xe9.txt") and id_exists(source)
    os.remove(odd)
    assert not id_exists(source)


def test_a_file_reached_twice_is_indexed_once(minilm, tmp_path):
    root = tmp_path / "proj"
    a = _write(root / "a.md", PARAGRAPHS[0])
    d = _write(root / "docs" / "d.md", PARAGRAPHS[1])
    (root / "link.md").symlink_to(a)
    r = _fresh(minilm)
    report = index_paths(r, [root, root / "docs", a], show_progress=False)  # symlink, overlapping roots
    assert not report.skipped and report.new_files == 2 and sorted(report.added) == sorted(map(canonical_id, (a, d)))
    assert len(r) == 2


def test_a_removed_chunk_comes_back_with_its_file(minilm, tmp_path):
    doc = _write(tmp_path / "doc.md", "\n\n".join(PARAGRAPHS) + "\n")
    r = _fresh(minilm)
    settings = chunk_settings(r, "auto", max_tokens=32)
    first = index_paths(r, [doc], show_progress=False, settings=settings)
    assert len(first.added) == len(PARAGRAPHS)
    chunk = sorted(first.added)[1]
    assert remove_sources(r.index, [chunk]) == (1, []) and chunk not in r.index

    again = index_paths(r, [doc], show_progress=False, settings=settings)
    assert again.changed_files == 1 and chunk in r.index and set(r.index.ids()) == set(first.added)
    assert index_paths(r, [doc], show_progress=False, settings=settings).unchanged_files == 1  # whole again


def test_remove_sources_refuses_an_empty_target(minilm, tmp_path, monkeypatch):
    doc = _write(tmp_path / "doc.md", PARAGRAPHS[0])
    r = _fresh(minilm)
    index_paths(r, [doc], show_progress=False)
    monkeypatch.chdir(tmp_path)  # "" would resolve to this folder, which holds doc.md
    for target in ("", "  "):
        with pytest.raises(InputError, match="empty remove target"):
            remove_sources(r.index, [target])
    assert len(r) == 1


def test_empty_files_are_counted_apart_and_an_emptied_file_leaves_the_index(minilm, tmp_path):
    root = tmp_path / "proj"
    _write(root / "a.md", PARAGRAPHS[0])
    _write(root / "empty.txt", "")
    _write(root / "blank.md", "  \n\n")
    later = _write(root / "later.md", PARAGRAPHS[2])
    r = _fresh(minilm)
    report = index_paths(r, [root], show_progress=False)
    assert report.skipped == [] and report.empty_files == 2 and report.new_files == 2
    later.write_text("\n")
    emptied = index_paths(r, [root], show_progress=False)
    assert emptied.empty_files == 3 and emptied.removed == 1 and canonical_id(later) not in r.index
    assert set(indexed_sources(r.index)) == {canonical_id(root / "a.md")}


def test_the_end_of_a_long_single_line_is_indexed_and_found(minilm, tmp_path):
    filler = " ".join(PARAGRAPHS[:3]) * 20
    line = filler + " The secret password for the vault is swordfish, whispered at midnight."
    doc = _write(tmp_path / "one_line.txt", line)
    r = _fresh(minilm)
    report = index_paths(r, [doc], show_progress=False)
    assert not report.truncated and not report.skipped and len(report.added) == len(set(report.added)) > 1
    hit = r.search("what is the password of the vault", k=1, exact=True)[0]
    meta = hit.metadata
    assert "swordfish" in line[meta["start_col"] - 1 : meta["end_col"]]
    assert hit.id == f"{canonical_id(doc)}#L1C{meta['start_col']}-{meta['end_col']}"


MEMORY_PROBE = textwrap.dedent("""
    import json, resource, sys, threading
    from transformers import AutoTokenizer
    from unret.chunking import ChunkSettings, _HFCounter, chunk_document

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()

    counter = _HFCounter(AutoTokenizer.from_pretrained(sys.argv[1]))
    words = ["river", "yeast", "comet", "chess", "valley", "orbit"]
    text = " ".join(words[i % 6] + str(i % 97) for i in range(int(sys.argv[2]) // 8))
    counter.batch(["warm up the tokenizer"] * 8)
    before = peak = rss()  # ru_maxrss would hold the peak of loading the tokenizer: sample while chunking
    done = threading.Event()

    def sample():
        global peak
        while not done.wait(0.002):
            peak = max(peak, rss())

    sampler = threading.Thread(target=sample)
    sampler.start()
    chunks = chunk_document(text, ChunkSettings("auto", 256, 0, counter))
    done.set()
    sampler.join()
    peak = max(peak, rss())
    print(json.dumps({"size": len(text), "added": peak - before, "chunks": len(chunks),
                      "joined": "".join(c.text for c in chunks) == text}))
""")


def test_a_long_single_line_is_chunked_in_memory_proportional_to_the_file(tiny_text_path):
    """Tokenizing a 2 MB line at once took ~150x its size (+300 MB); counted in pieces it is a few times it."""
    proc = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(tiny_text_path), str(2 * 2**20)],
                          capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HF_HUB_OFFLINE": "1",
                               "TOKENIZERS_PARALLELISM": "false", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"chunking a {result['size'] / 2**20:.1f} MiB line added {result['added'] / 2**20:.0f} MiB")
    assert result["added"] < 12 * result["size"], result
    assert result["joined"] and result["chunks"] > 100  # every character in exactly one window
