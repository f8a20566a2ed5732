"""The web page in a real headless Chromium (Debian's, driven by Playwright): type a query, see the hits as
cards a person reads (file, lines, code or snippet, thumbnail; the raw metadata folded away), search by an
uploaded image, see image search disabled in words on a text-only model, and keep screenshots."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.serve.conftest import Server
from unret import UnifiedRetriever
from unret.files import index_paths
from unret.items import Text

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()),
                shutil.which("chromium"))
# Root in a container, no network, no GPU: the flags Chromium needs to start and stay offline.
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]
TIMEOUT_MS = 60_000


@pytest.fixture
def page(tmp_path):
    playwright = pytest.importorskip("playwright.sync_api", reason="the dev extra (playwright) is not installed")
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    with playwright.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1100, "height": 1400})
        try:
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            yield page
        finally:
            context.close()


def test_search_page_text_and_image_queries(page, server, local, served_index, tmp_path):
    _, docs = served_index
    page.goto(server.url)
    page.wait_for_function("document.getElementById('info').textContent.includes('items')")
    assert "6 items" in page.inner_text("#info")

    page.select_option("#mode", "hybrid")
    page.fill("#q", "parse a url into its scheme")
    page.press("#q", "Enter")
    page.wait_for_selector("#results li.hit")
    shown = page.eval_on_selector_all("#results li.hit", "els => els.map(e => e.dataset.id)")
    want = [h.id for h in local.search(Text("parse a url into its scheme"), k=10, mode="hybrid")]
    assert shown == want
    code = page.locator("li.hit[data-id='url']")
    assert code.locator("pre code.hljs .hljs-keyword").first.inner_text() == "def"  # highlighted
    assert code.locator(".lines").inner_text() == "lines 1–3"
    assert "Paris is the capital" in page.locator("li.hit[data-id='paris'] .snippet").inner_text()
    paris = page.locator("li.hit[data-id='paris']")
    assert not paris.locator("details.raw pre").is_visible()  # raw metadata: folded until asked for
    assert '"n"' not in paris.inner_text()
    paris.locator("details.raw summary").click()
    assert '"id": "paris"' in paris.locator("details.raw pre").inner_text()
    assert '"n": 0' in paris.locator("details.raw pre").inner_text()
    page.wait_for_function(  # image hits show their thumbnails
        "[...document.querySelectorAll('img.thumb')].every(i => i.complete && i.naturalWidth > 0)")
    assert page.locator("li.hit[data-id='red'] img.thumb").count() == 1
    page.screenshot(path=str(tmp_path / "unret-web-text.png"), full_page=True)

    page.fill("#q", "")
    page.select_option("#modality", "image")
    page.set_input_files("#image", docs["blue"])  # choosing a file searches at once
    page.wait_for_function("document.querySelector('#results li.hit')?.dataset.id === 'blue'")
    shown = page.eval_on_selector_all("#results li.hit", "els => els.map(e => e.dataset.id)")
    assert shown == [h.id for h in local.search(Image.open(docs["blue"]), k=10, modality="image")]
    assert page.locator("#preview").is_visible()
    shot = tmp_path / "unret-web-image.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    print(f"\nscreenshots: {tmp_path / 'unret-web-text.png'} {shot}")


@pytest.fixture(scope="module")
def text_only_server(tiny_text_path, tmp_path_factory):
    """A text-only model over indexed files: the metadata of real file hits (sha256, mtime_ns, chunking…)."""
    root = tmp_path_factory.mktemp("text-only")
    files = root / "project"
    files.mkdir()
    (files / "net.py").write_text("import socket\n\n\ndef open_socket(host, port):\n"
                                  "    return socket.create_connection((host, port))\n")
    (files / "notes.md").write_text("# Networking\n\nSockets connect a host and a port.\n")
    r = UnifiedRetriever.from_pretrained(tiny_text_path)
    r.add(["placeholder"], ids=["placeholder"])
    index_paths(r, [files], show_progress=False)
    r.remove(["placeholder"])
    r.save(root / "index")
    s = Server(root / "index", root / "server.log")
    yield s, files
    s.stop()


def test_cards_show_file_and_lines_and_fold_the_raw_metadata(page, text_only_server, tmp_path):
    server, files = text_only_server
    page.goto(server.url)
    page.wait_for_function("document.getElementById('info').textContent.includes('items')")
    drop = page.locator("#drop")
    assert drop.get_attribute("aria-disabled") == "true" and page.locator("#image").is_disabled()
    message = page.inner_text("#drop-text")
    assert "Image search is not available" in message and "reads text and code only" in message
    assert "Backbone" not in message and page.locator("#pick").count() == 0
    assert page.locator("#modality option[value='image']").is_disabled()

    page.select_option("#mode", "lexical")
    page.fill("#q", "socket host port")
    page.press("#q", "Enter")
    page.wait_for_selector("#results li.hit")
    code = page.locator("li.hit[data-modality='code']").first
    source = str(files / "net.py")
    head = code.locator(".hit-head").inner_text()
    assert code.locator(".hit-title").inner_text().endswith("net.py") and "lines 1–5" in head
    assert "open_socket" in code.locator("pre code").inner_text()
    assert code.locator(".gutter").inner_text().split() == ["1", "2", "3", "4", "5"]
    shown = code.inner_text()
    for raw in ("sha256", "mtime_ns", "chunking", "snippet"):  # hidden until the toggle opens
        assert raw not in shown, raw
    code.locator("details.raw summary").click()
    raw_text = code.locator("details.raw pre").inner_text()
    assert "sha256" in raw_text and "mtime_ns" in raw_text and Path(source).name in raw_text
    notes = page.locator("li.hit[data-modality='text']").first
    assert notes.locator(".hit-title").inner_text().endswith("notes.md")
    assert "Sockets connect a host and a port." in notes.locator(".snippet").inner_text()
    shot = tmp_path / "unret-web-text-only.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")
