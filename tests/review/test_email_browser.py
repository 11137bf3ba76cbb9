"""The composed email in a real Chromium: phone width, CTA, hero, dark mode contrast."""

from __future__ import annotations

import pytest

from newsletter.compose import compose_issue
from newsletter.review.reviewer_view import sample_html
from newsletter.review.screenshots import PAGE_URL
from tests.helpers import wait_until
from tests.review.helpers import CTA_URL, HERO_URL, contrast, luminance, png_bytes

pytestmark = pytest.mark.browser

# Colours of the main text and of what is really behind it: the nearest
# ancestor whose background is not transparent.
COLOURS_JS = """
(el) => {
  let bg = el, colour;
  while (bg) {
    colour = getComputedStyle(bg).backgroundColor;
    if (colour && colour !== "transparent" && !/rgba\\(.*,\\s*0\\)$/.test(colour)) break;
    bg = bg.parentElement;
  }
  return {text: getComputedStyle(el).color, background: bg ? colour : "rgb(255, 255, 255)",
          body: getComputedStyle(document.body).backgroundColor};
}
"""


@pytest.fixture
def open_email(browser, lab_issue, settings):
    """Open the composed lab issue in a fresh context; the hero is a 1200 px PNG
    served locally, every other request is recorded and aborted."""
    html = sample_html(compose_issue(lab_issue, settings).html)
    hero = png_bytes(1200, 600)
    contexts = []

    def open_(width: int, scheme: str = "light"):
        context = browser.new_context(viewport={"width": width, "height": 800}, color_scheme=scheme)
        contexts.append(context)
        blocked: list[str] = []

        def handle(route):
            url = route.request.url
            if url == PAGE_URL:
                route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)
            elif url == HERO_URL:
                route.fulfill(status=200, content_type="image/png", body=hero)
            else:
                blocked.append(url)
                route.abort("blockedbyclient")

        context.route("**/*", handle)  # on the context: popups from target=_blank links too
        page = context.new_page()
        page.goto(PAGE_URL, wait_until="load")
        return page, blocked

    yield open_
    for context in contexts:
        context.close()


def test_phone_width_has_no_horizontal_scroll(open_email):
    page, _ = open_email(375)
    widths = page.evaluate("({doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: innerWidth})")
    assert widths["view"] == 375
    assert widths["doc"] <= 375, widths
    assert widths["body"] <= 375, widths


def test_phone_hero_image_fits(open_email):
    page, _ = open_email(375)
    hero = page.locator(f'img[src="{HERO_URL}"]')
    assert hero.count() == 1
    assert hero.evaluate("img => img.complete && img.naturalWidth") == 1200  # really loaded, then scaled
    box = hero.bounding_box()
    assert box is not None and box["x"] >= 0 and box["width"] > 200
    assert box["x"] + box["width"] <= 375


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_phone_cta_is_visible_and_clickable(open_email, scheme):
    page, blocked = open_email(375, scheme)
    cta = page.get_by_role("link", name="READ MORE >>")
    assert cta.count() == 1
    cta.scroll_into_view_if_needed()
    assert cta.is_visible()
    box = cta.bounding_box()
    assert box is not None and box["width"] >= 44 and box["height"] >= 30  # a real button, not a bare word
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375
    href = cta.get_attribute("href")
    assert href.startswith(CTA_URL)
    cta.click()  # Playwright checks it is visible, stable and not covered before clicking
    # The click navigated (and was stopped); Playwright runs the route that records it only inside its own calls.
    wait_until(lambda: any(url.startswith(CTA_URL) for url in blocked), 15, 0.1, lambda: f"the click went nowhere: {blocked}",
               pause=lambda seconds: page.wait_for_timeout(seconds * 1000))


def test_dark_mode_background_is_dark_and_text_readable(open_email):
    page, _ = open_email(375, "dark")
    main_text = page.get_by_text("this autumn we start three new projects")
    assert main_text.count() == 1
    colours = main_text.evaluate(COLOURS_JS)
    assert luminance(colours["body"]) < 0.05, colours  # body background is dark
    assert luminance(colours["background"]) < 0.05, colours
    ratio = contrast(colours["text"], colours["background"])
    assert ratio > 4.5, (ratio, colours)


def test_light_mode_text_is_readable_too(open_email):
    page, _ = open_email(600, "light")
    colours = page.get_by_text("this autumn we start three new projects").evaluate(COLOURS_JS)
    assert luminance(colours["body"]) > 0.5, colours
    assert contrast(colours["text"], colours["background"]) > 4.5, colours


def test_contrast_helper():
    assert contrast("rgb(0, 0, 0)", "rgb(255, 255, 255)") == pytest.approx(21, rel=1e-3)
    assert contrast("rgba(119, 119, 119, 1)", "rgb(255, 255, 255)") == pytest.approx(4.48, abs=0.01)
