"""The live preview in a real Chromium against the real server (uvicorn on loopback)."""

from __future__ import annotations

import pytest

from tests.review.helpers import NO_CHROMIUM, luminance

expect = pytest.importorskip("playwright.sync_api", reason=NO_CHROMIUM).expect

pytestmark = pytest.mark.browser

RELOAD_TIMEOUT_MS = 20_000  # generous for a busy 2-core CI machine; the page polls every 0.7 s


@pytest.fixture
def page(browser):
    """A light-mode desktop page whose requests may only reach the loopback server."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="light")
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("http://127.0.0.1:") else route.abort())
    yield context.new_page()
    context.close()


def test_preview_shows_the_issue_and_reloads_after_an_edit(page, preview_server, lab_issue):
    url = preview_server(lab_issue)
    page.goto(url)
    expect(page.locator("#subject")).to_have_text("Autumn at the lab")
    expect(page.locator("#preheader")).to_contain_text("Three new projects, one party")
    expect(page.locator("#text")).to_contain_text("this autumn we start three new projects")
    frames = page.locator("iframe")
    expect(frames).to_have_count(2)
    assert [frames.nth(i).get_attribute("width") for i in range(2)] == ["375", "600"]
    phone = page.frame_locator("iframe").first
    expect(phone.get_by_text("this autumn we start three new projects")).to_be_visible()

    text = lab_issue.read_text(encoding="utf-8")
    lab_issue.write_text(text.replace("this autumn we start", "this winter we launch"), encoding="utf-8")

    # No action from the test: the page notices the new build and reloads itself.
    expect(page.locator("#text")).to_contain_text("this winter we launch", timeout=RELOAD_TIMEOUT_MS)
    expect(page.frame_locator("iframe").first.get_by_text("this winter we launch")).to_be_visible()
    expect(page.frame_locator("iframe").nth(1).get_by_text("this winter we launch")).to_be_visible()


def test_preview_survives_a_broken_issue(page, preview_server, lab_issue):
    url = preview_server(lab_issue)
    page.goto(url)
    expect(page.locator("#subject")).to_have_text("Autumn at the lab")
    good = lab_issue.read_text(encoding="utf-8")

    lab_issue.write_text("---\ntitle: [unclosed\n---\n", encoding="utf-8")
    expect(page.locator("#error")).to_contain_text("malformed YAML frontmatter", timeout=RELOAD_TIMEOUT_MS)

    lab_issue.write_text(good.replace("Autumn at the lab", "Autumn, fixed"), encoding="utf-8")
    expect(page.locator("#subject")).to_have_text("Autumn, fixed", timeout=RELOAD_TIMEOUT_MS)
    expect(page.locator("#error")).to_have_count(0)


def test_dark_switch_really_darkens_the_frames(page, preview_server, lab_issue):
    url = preview_server(lab_issue)
    page.goto(url)
    body_colour = "el => getComputedStyle(el.ownerDocument.body).backgroundColor"
    phone = page.frame_locator("iframe").first
    light = phone.locator("body").evaluate(body_colour)

    page.locator("#scheme-dark").click()
    expect(page.locator("#scheme-dark")).to_have_class("on")
    phone = page.frame_locator("iframe").first
    expect(phone.get_by_text("this autumn we start three new projects")).to_be_visible()
    dark = phone.locator("body").evaluate(body_colour)
    # The browser itself is in light mode: only the switch can have made this dark.
    assert luminance(light) > 0.5, light
    assert luminance(dark) < 0.05, dark
