"""The confirmation email through the configured backends, its templates, and `subscribers purge-pending`."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta

import pytest

from newsletter.audience import confirmation, signup
from newsletter.audience.lists import create_list
from newsletter.store import connect
from tests.audience.helpers import CONFIRM_LINK, membership, query
from tests.delivery.fakes import RecordingHandler, free_port


def register(settings, address: str, *, now: datetime | None = None) -> signup.Confirmation:
    conn = connect(settings.newsletter_database)
    try:
        form = signup.parse_form({"email": address, "consent": True})
        return signup.register(conn, settings, "news", form, ip="", source="json", now=now)
    finally:
        conn.close()


@pytest.fixture
def news(settings):
    create_list("news", settings, title="Harbour News", signup=True)
    return settings


def test_sent_over_real_smtp_with_text_twin_and_headers(news):
    from aiosmtpd.controller import Controller

    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = news.with_overrides(newsletter_backend="smtp", smtp_host="127.0.0.1", smtp_port=port, smtp_timeout=10.0)
        pending = register(config, "ann@example.org")
        assert confirmation.send(config, pending, signup.confirm_url(config, pending))
    finally:
        controller.stop()
    [(sender, recipients, data)] = handler.messages
    assert recipients == ["ann@example.org"] and sender == "newsletter@example.org"
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message["Subject"] == "Please confirm your subscription to Harbour News"
    assert message["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/u/")
    assert message["List-Id"].endswith("<news.newsletter.example.org>")  # the list signed up to
    assert message["Feedback-ID"] == "0:news:newsletter:example.org"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    [link] = CONFIRM_LINK.findall(text)
    assert link in html and "ann@example.org" in text and "%%" not in text + html
    assert "48 hours" in text


def test_a_layout_folder_can_replace_the_templates(news, tmp_path):
    folder = tmp_path / "layouts" / "default"
    folder.mkdir(parents=True)
    (folder / "confirm.mjml.j2").write_text(
        '<mjml><mj-body><mj-section><mj-column><mj-text>Ours: <a href="{{ confirm_url }}">yes</a> {{ list_title }}'
        "</mj-text></mj-column></mj-section></mj-body></mjml>", encoding="utf-8")
    (folder / "confirm.txt.j2").write_text("Ours: {{ confirm_url }}\n", encoding="utf-8")
    config = news.with_overrides(newsletter_layouts=str(tmp_path / "layouts"))
    rendered = confirmation.render(config, register(config, "ann@example.org"), "https://x.example.org/confirm/t")
    assert rendered.text == "Ours: https://x.example.org/confirm/t\n"
    assert "Ours:" in rendered.html and "Harbour News" in rendered.html and "<mj-" not in rendered.html


def test_purge_pending_command(cli, news):
    old = datetime.now(UTC) - timedelta(days=10)
    register(news, "old@example.org", now=old)
    register(news, "new@example.org", now=datetime.now(UTC) - timedelta(hours=1))
    run = cli(news, "subscribers", "purge-pending")
    assert run.exit_code == 0 and "1 unconfirmed signup(s) deleted" in run.stdout
    assert query(news.newsletter_database, "SELECT email FROM subscribers") == [("new@example.org",)]
    assert cli(news, "subscribers", "purge-pending", "--days", "0").stdout.startswith("1 ")
    assert membership(news.newsletter_database, "new@example.org", "news") is None
    assert cli(news, "subscribers", "purge-pending", "--days", "-1").exit_code == 2


def test_serve_purges_stale_signups_when_it_starts(news):
    from newsletter.server.app import create_app

    register(news, "old@example.org", now=datetime.now(UTC) - timedelta(days=8))
    create_app(news)
    assert query(news.newsletter_database, "SELECT COUNT(*) FROM subscribers") == [(0,)]
