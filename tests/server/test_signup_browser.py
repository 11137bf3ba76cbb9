"""Signup to confirmation in a real Chromium against the real server (uvicorn on loopback):
fill the form, read the email from the outbox, open its link, press the button."""

from __future__ import annotations

import pytest

from newsletter.audience.consent import text_sha256
from newsletter.audience.lists import create_list
from tests.audience.helpers import confirmation_files, membership, query, read_confirmation
from tests.helpers import wait_until
from tests.review.helpers import NO_CHROMIUM

expect = pytest.importorskip("playwright.sync_api", reason=NO_CHROMIUM).expect

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]  # about the pages, not the database


@pytest.fixture
def page(browser):
    """A phone-sized page whose requests may only reach the loopback server."""
    context = browser.new_context(viewport={"width": 375, "height": 740}, color_scheme="light")
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("http://127.0.0.1:")
                  else route.abort())
    yield context.new_page()
    context.close()


def wait_for_confirmation(outbox: str, timeout_s: float = 30.0):
    """The confirmation email, once the server's background task has written it."""
    [path] = wait_until(lambda: confirmation_files(outbox), timeout_s, 0.05, "no confirmation email arrived in the outbox")
    return read_confirmation(path)


def test_signup_email_link_and_button_in_chromium(page, settings, serve, tmp_path):
    config = settings.with_overrides(newsletter_outbox=str(tmp_path / "outbox"))
    create_list("news", config, title="Harbour News", signup=True)
    base = serve(config)
    database = config.newsletter_database

    page.goto(f"{base}/subscribe/news")
    expect(page.get_by_role("heading")).to_have_text("Subscribe to Harbour News")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # fits a phone
    expect(page.locator("input[name=website]")).not_to_be_in_viewport()  # the honeypot stays out of sight
    page.get_by_label("Email address").fill("ann@example.org")
    page.get_by_label("Name (optional)").fill("Ann Example")
    page.get_by_label(config.newsletter_consent_text).check()
    page.get_by_role("button", name="Subscribe to Harbour News").click()
    expect(page.get_by_role("heading")).to_have_text("Check your inbox")
    assert membership(database, "ann@example.org", "news") == "pending"

    message, text, link = wait_for_confirmation(config.newsletter_outbox)
    assert message["To"] == "ann@example.org" and link.startswith(base + "/confirm/")
    page.goto(link)
    expect(page.get_by_role("button", name="Confirm my subscription")).to_be_visible()
    expect(page.get_by_text("ann@example.org")).to_be_visible()
    page.reload()  # a second GET (a mail scanner, a reload) confirms nothing either
    assert membership(database, "ann@example.org", "news") == "pending"

    page.get_by_role("button", name="Confirm my subscription").click()
    expect(page.get_by_role("heading")).to_have_text("You are subscribed")
    assert membership(database, "ann@example.org", "news") == "active"
    [(name, text_hash, consent_text, requested, confirmed)] = query(
        database, "SELECT s.name, c.consent_sha256, c.consent_text, c.requested_at, c.confirmed_at"
                  " FROM consents c JOIN subscribers s ON s.id = c.subscriber_id")
    assert (name, consent_text) == ("Ann Example", config.newsletter_consent_text)
    assert text_hash == text_sha256(config.newsletter_consent_text)
    assert requested <= confirmed
