"""Input normalisation and clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from unret import Code, InputError, Text
from unret.items import to_item, to_items


def test_normalisation_rules(tmp_path, image_files):
    a, _, _ = image_files
    src = tmp_path / "mod.py"
    src.write_text("def f():\n    return 1\n")
    doc = tmp_path / "intro.md"
    doc.write_text("# Intro\nhello")
    assert to_item("hello world").modality == "text"
    assert to_item(Code("x = 1", "python")).modality == "code"
    assert to_item(Text(str(a))).modality == "text"  # explicit text wins over path-likeness
    img = to_item(str(a))
    assert img.modality == "image" and img.size == (84, 56)
    assert to_item(Image.new("RGB", (5, 5))).modality == "image"
    code = to_item(str(src))
    assert (code.modality, code.language, code.text) == ("code", "python", "def f():\n    return 1\n")
    assert to_item(doc).modality == "text" and to_item(doc).text.startswith("# Intro")
    pair = to_item((a, "caption"))
    assert (pair.modality, pair.text) == ("image+text", "caption")
    assert to_item({"code": "x=1", "language": "py"}).language == "py"
    assert to_item({"image": str(a), "text": "t"}).modality == "image+text"


def test_single_vs_list(image_files):
    a, _, _ = image_files
    assert to_items("one")[1] is True
    assert to_items((a, "caption"))[1] is True
    items, single = to_items(["x", ("y")])
    assert not single and len(items) == 2


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("", r"input #1: empty text"),
        ("   ", r"input #1: empty text"),
        ("missing.png", r"input #1: image file not found: missing.png"),
        (Path("missing.py"), r"input #1: file not found"),
        (42, r"input #1: cannot embed an object of type int"),
        ({"foo": 1}, r"input #1: unknown keys \['foo'\]"),
        (Code(""), r"input #1: empty code"),
    ],
)
def test_bad_inputs_are_named(bad, message):
    with pytest.raises(InputError, match=message):
        to_items(["fine", bad])


def test_corrupt_image_is_named(image_files):
    _, _, corrupt = image_files
    with pytest.raises(InputError, match=rf"input #2: corrupt or unreadable image .*{corrupt.name}"):
        to_items(["fine", "also fine", str(corrupt)])


def test_truncated_image_is_named_when_decoded(tmp_path, tiny_vl):
    from tests.conftest import random_image

    path = tmp_path / "cut.png"
    random_image(64, 64).save(path)
    path.write_bytes(path.read_bytes()[:200])  # header intact, pixel data cut off
    with pytest.raises(InputError, match=r"input #1: corrupt or unreadable image .*cut.png"):
        tiny_vl.encode_documents(["fine", str(path)])


def test_exif_orientation_is_applied_to_paths_and_open_images(tmp_path):
    import numpy as np
    from PIL import ImageOps

    from tests.conftest import random_image

    img = random_image(120, 90)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: display rotated 90° clockwise
    path = tmp_path / "phone.jpg"
    img.save(path, exif=exif, quality=95)
    upright = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    assert upright.size == (90, 120)
    for source in (path, Image.open(path)):
        loaded = to_item(source).load_image()
        assert loaded.size == (90, 120)
        assert np.array_equal(np.asarray(loaded), np.asarray(upright))


@pytest.mark.parametrize(
    ("encoding", "text", "exact"),
    [
        ("utf-8-sig", "def f():\n    return 'naïve'\n", True),  # the BOM is dropped
        ("utf-16", "def hello():\n    return 'world'\n", True),
        ("cp1252", "/* Größe – “quoted” */\nint main(void) { return 0; }\n", True),
        ("shift_jis", "// これは日本語のテキストです。検索エンジン\nint x = 1;\n", True),
        ("cp1251", "// Привет мир, это тест кодировки\nint x = 1;\n", True),
        # Single-byte Western text is ambiguous between code pages (detected as cp1257 here): the file is
        # still read, its ASCII exactly, each accented letter as one character.
        ("latin-1", "# café au lait, crème brûlée, déjà vu\ndef prix(x):\n    return x * 1.2  # à payer\n", False),
    ],
)
def test_text_files_in_other_encodings_are_decoded(tmp_path, encoding, text, exact):
    path = tmp_path / ("src.py" if "def " in text else "src.c")
    path.write_bytes(text.encode(encoding))
    item = to_item(path)
    assert item.modality == "code"
    if exact:
        assert item.text == text
    else:
        assert len(item.text) == len(text)
        assert [c if c.isascii() else "?" for c in item.text] == [c if c.isascii() else "?" for c in text]


def test_binary_files_are_refused_by_name(tmp_path):
    for name, data in (("blob.txt", bytes(range(256)) * 4), ("zeros.py", bytes(64))):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(InputError, match=rf"input #1: .*{name} is not a text, code or image file"):
            to_items(["fine", path])


def test_empty_list_is_refused():
    with pytest.raises(InputError, match="no inputs"):
        to_items([])
