"""The web playground in headless Chromium (Debian's, driven by Playwright), with every request
that is not to 127.0.0.1 blocked and recorded: load, create a namespace, upload files, search,
see a labelled result; an item whose text is markup is shown as text; /docs renders offline.
``make test`` installs Chromium when it is missing; set BITSIFT_SCREENSHOT=path.png to save the
search view (the README's picture is made so)."""

from __future__ import annotations

import os
import shutil
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect, sync_playwright

pytestmark = [pytest.mark.model, pytest.mark.slow]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
MARKUP = "<script>window.pwned = 1</script><img src=x onerror=\"window.pwned = 2\"> markup about wing flutter"


@pytest.fixture
def browser():
    assert os.path.exists(CHROMIUM), "Chromium is missing: make test installs it (apt-get install chromium)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        yield b
        b.close()


def offline_page(browser):
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    outside: list[str] = []

    def only_local(route):
        host = urlparse(route.request.url).hostname
        if host == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()
    page.route("**/*", only_local)
    return page, outside


def test_the_playground_end_to_end_offline(tmp_path, live_server, browser):
    srv = live_server(data_dir=tmp_path / "data")
    (tmp_path / "wings.txt").write_text("Swept wings stall at the tips first; washout delays the tip stall.")
    (tmp_path / "markup.txt").write_text(MARKUP)
    page, outside = offline_page(browser)
    page.goto(srv.url + "/")
    page.wait_for_selector("#create-form")
    page.fill("#new-name", "docs")
    page.select_option("#new-type", "text")
    page.click("#create-form button")
    page.wait_for_selector("#namespaces li[data-name=docs]")
    assert page.inner_text("#ns-title") == "docs"
    page.click(".tabs button[data-tab=upload]")
    page.set_input_files("#files", [str(tmp_path / "wings.txt"), str(tmp_path / "markup.txt")])
    expect(page.locator("#uploads li").filter(has_text="done")).to_have_count(2, timeout=120_000)
    page.click(".tabs button[data-tab=search]")
    page.fill("#query", "why do wings stall?")
    page.click("#search-form button")
    page.wait_for_selector("#results li")
    first = page.locator("#results li").first
    assert "wings.txt" in first.inner_text() and first.locator(".label").inner_text().strip()
    assert float(first.locator("strong").inner_text()) > 0.5
    if os.environ.get("BITSIFT_SCREENSHOT"):
        page.screenshot(path=os.environ["BITSIFT_SCREENSHOT"])
    page.click(".tabs button[data-tab=items]")
    page.wait_for_selector("#items li")
    shown = page.locator("#items .text").all_inner_texts()
    assert any(t.startswith("<script>window.pwned") for t in shown)  # the markup, as text
    assert page.evaluate("window.pwned") is None and page.locator("#items img").count() == 0
    page.click(".tabs button[data-tab=stats]")
    page.wait_for_selector("#entropy rect")
    assert page.locator("#entropy rect").count() == 384  # one bar per bit of the codes
    page.click(".tabs button[data-tab=answer]")
    page.fill("#question", "Where do swept wings stall first?")
    page.click("#answer-form button")
    page.wait_for_selector("#citations li")
    assert "tips" in page.inner_text("#answer")
    assert outside == [], outside


def test_the_api_docs_render_with_no_network(tmp_path, live_server, browser):
    srv = live_server(data_dir=tmp_path / "data")
    page, outside = offline_page(browser)
    page.goto(srv.url + "/docs")
    page.wait_for_selector(".opblock", timeout=30_000)  # Swagger UI drew the operations from /openapi.json
    assert page.locator(".opblock").count() > 20
    page.goto(srv.url + "/redoc")
    page.wait_for_selector("[role=menuitem], .menu-content", timeout=30_000)
    assert outside == [], outside
