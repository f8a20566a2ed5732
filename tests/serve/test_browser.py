"""The web page in a real headless Chromium (Debian's, driven by Playwright): type a query, see the hits,
search by an uploaded image, and keep a screenshot of the page."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

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
