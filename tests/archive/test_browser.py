"""The archive in a real Chromium, served by the real server: it fits a phone and a desktop, loads nothing
from another host than its own and the issue's images, shows the preheader, and keeps its text readable
in light and dark mode."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.review.helpers import NO_CHROMIUM, contrast, png_bytes

expect = pytest.importorskip("playwright.sync_api", reason=NO_CHROMIUM).expect

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]  # about the pages, not the database

WIDTHS = [375, 1280]
IMAGES = "images.example.com"  # the issue's image host (tests/archive/conftest.py)
PAGES = ["", "news/", "team/", "2026-11-harbour/", "2026-12-harbour/"]

#: The colour of an element's text, and the first opaque background behind it.
COLOURS = """element => {
  let node = element, background = 'rgba(0, 0, 0, 0)';
  while (node && node.nodeType === 1) {
    const colour = getComputedStyle(node).backgroundColor;
    if (!/rgba\\(.*, 0\\)$/.test(colour) && colour !== 'transparent') { background = colour; break; }
    node = node.parentElement;
  }
  return {text: getComputedStyle(element).color, background: background === 'rgba(0, 0, 0, 0)' ? 'rgb(255, 255, 255)' : background};
}"""


@pytest.fixture
def open_archive(browser):
    """``open_archive(url, width, scheme)``: a page that records the host of every request; the issue's images
    are answered here (no network), anything else is refused."""
    contexts = []

    def open_(url: str, width: int, scheme: str = "light"):
        own = urlsplit(url).netloc
        context = browser.new_context(viewport={"width": width, "height": 800}, color_scheme=scheme)
        contexts.append(context)
        hosts: list[str] = []

        def route(request_route):
            host = urlsplit(request_route.request.url).netloc
            hosts.append(host)
            if host == own:
                request_route.continue_()
            elif host == IMAGES:
                request_route.fulfill(status=200, content_type="image/png", body=png_bytes(1200, 600))
            else:
                request_route.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.goto(url)
        page.wait_for_load_state("load")
        return page, hosts

    yield open_
    for context in contexts:
        context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_and_loads_only_its_own_and_the_issues_images(sent, serve, open_archive, width):
    assert sent.cli("lists", "update", "team", "--signup").exit_code == 0
    base = serve(sent.config)
    for path in PAGES:
        page, hosts = open_archive(f"{base}/archive/{path}", width)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path
        assert set(hosts) <= {urlsplit(base).netloc, IMAGES}, (path, hosts)
        if path.endswith("harbour/"):
            expect(page.locator(".nl-archive-preheader")).to_be_visible()
            expect(page.get_by_role("link", name="Unsubscribe")).to_have_count(0)
    page, _ = open_archive(f"{base}/archive/2026-11-harbour/", width)
    assert IMAGES in {urlsplit(src).netloc for src in page.eval_on_selector_all("img", "els => els.map(e => e.src)")}
    assert page.evaluate("[...document.images].every(img => img.complete && img.naturalWidth > 0)")
    page, _ = open_archive(f"{base}/archive/team/", width)
    expect(page.get_by_role("button", name="Subscribe to Harbour")).to_be_visible()
    expect(page.locator("input[name=website]")).not_to_be_in_viewport()  # the honeypot stays out of sight


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_archives_own_text_is_readable(sent, serve, open_archive, scheme):
    base = serve(sent.config)
    page, _ = open_archive(f"{base}/archive/2026-12-harbour/", 375, scheme)
    for selector in (".nl-archive-preheader", ".nl-archive-nav a"):
        colours = page.eval_on_selector(selector, COLOURS)
        assert contrast(colours["text"], colours["background"]) >= 4.5, (selector, colours)
    page, _ = open_archive(f"{base}/archive/", 375, scheme)
    for selector in ("h1", ".nl-issues a", ".nl-date", ".nl-preheader"):
        colours = page.eval_on_selector(selector, COLOURS)
        assert contrast(colours["text"], colours["background"]) >= 4.5, (selector, colours)


def test_from_the_index_to_an_issue_and_back(sent, serve, open_archive):
    base = serve(sent.config)
    page, _ = open_archive(f"{base}/archive/", 1280)
    page.get_by_role("link", name="Harbour News: November").click()
    expect(page).to_have_url(f"{base}/archive/2026-11-harbour/")
    expect(page.get_by_role("heading", name="Hello there")).to_be_visible()
    page.get_by_role("link", name="All issues").click()
    expect(page).to_have_url(f"{base}/archive/")
