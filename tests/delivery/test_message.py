"""Per-recipient MIME messages: headers, part order, personalisation, escaping, refusals."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from newsletter.compose.model import ComposeResult, Issue
from newsletter.delivery.base import Recipient
from newsletter.delivery.message import MessageFactory, _qp, check_header, with_attachments
from newsletter.errors import ConfigError, HeaderError
from newsletter.personalize import personalize

HTML = "<html><body>\n<p>Hello %%name%%,</p>\n" + "<p>Filler line with é and a long tail " * 3 + "</p>\n" * 40 + (
    '<a href="%%unsubscribe_url%%">Unsubscribe</a> <a href="%%web_url%%">web</a> %%email%%\n</body></html>'
)
TEXT = "Hello %%name%%,\n" + "Filler é text line\n" * 30 + "Unsubscribe: %%unsubscribe_url%%\n"


def result(subject: str = "News of the month") -> ComposeResult:
    issue = Issue(path=Path("issue.md"), slug="2026-11", meta={}, body="", body_line=1, subject=subject,
                  web_url="https://news.example.org/2026-11", categories=["News"])
    return ComposeResult(issue=issue, html=HTML, text=TEXT, links=[], findings=[])


def parse(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


def test_message_headers_parts_and_personalisation(settings):
    config = settings.with_overrides(newsletter_reply_to="Team <team@example.org>",
                                     newsletter_unsubscribe_mailto="unsubscribe@example.org")
    factory = MessageFactory(result(), config, send_id=7)
    bob = Recipient(42, "bob@example.org", '<b>Bob & "Co"</b>', "https://x.example/u/tok42", "https://news.example.org/2026-11")
    message_id, data = factory.build(bob)
    msg = parse(data)
    assert msg["From"] == "Newsletter <newsletter@example.org>"
    assert msg["Reply-To"] == "Team <team@example.org>"
    assert msg["To"].addresses[0].display_name == '<b>Bob & "Co"</b>'
    assert msg["To"].addresses[0].addr_spec == "bob@example.org"
    assert msg["Subject"] == "News of the month"
    assert msg["Date"] and msg["Message-ID"] == message_id and message_id.endswith("@example.org>")
    assert msg["List-Id"] == "Our Newsletter <newsletter.example.org>"
    assert msg["List-Unsubscribe"] == "<https://x.example/u/tok42>, <mailto:unsubscribe@example.org?subject=unsubscribe>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert 'Hello <b>Bob & "Co"</b>,' in text
    assert "Hello &lt;b&gt;Bob &amp; &quot;Co&quot;&lt;/b&gt;," in html
    assert "<b>Bob" not in html
    assert 'href="https://x.example/u/tok42"' in html and "bob@example.org" in html
    assert "%%" not in html and "%%" not in text
    # Every line is short and 7-bit: safe for any SMTP server.
    assert all(len(line) <= 998 for line in data.split(b"\r\n")) and data.isascii()
    # A second copy gets its own Message-ID.
    assert factory.build(bob)[0] != message_id


def test_missing_name_falls_back_and_non_ascii_name_is_encoded(settings):
    factory = MessageFactory(result("Ünïcode — subject"), settings, send_id=1)
    msg = parse(factory.build(Recipient(1, "a@example.org", ""))[1])
    assert msg["To"] == "a@example.org"
    assert "Hello there," in msg.get_body(("plain",)).get_content()
    msg = parse(factory.build(Recipient(2, "z@example.org", "Zoë Ärger"))[1])
    assert msg["To"].addresses[0].display_name == "Zoë Ärger"
    assert msg["Subject"] == "Ünïcode — subject"


def test_partial_encoding_matches_encoding_the_whole_body(settings):
    factory = MessageFactory(result(), settings, send_id=1)
    bob = Recipient(3, "b@example.org", "Bob Smith", "https://x/u/t")
    data = factory.build(bob)[1]
    assert _qp(personalize(HTML, bob.values(), is_html=True)) in data
    assert _qp(personalize(TEXT, bob.values(), is_html=False)) in data


@pytest.mark.parametrize("bad", ["Evil\r\nBcc: victim@example.org", "tab\there", "nul\x00", "del\x7f"])
def test_control_characters_in_headers_are_refused(settings, bad):
    with pytest.raises(HeaderError):
        check_header("Subject", bad)
    with pytest.raises(HeaderError, match="control character"):
        MessageFactory(result(bad), settings)
    factory = MessageFactory(result(), settings)
    with pytest.raises(HeaderError):
        factory.build(Recipient(1, "a@example.org", bad))
    with pytest.raises(ConfigError, match="NEWSLETTER_FROM"):  # refused as soon as the setting is read
        settings.with_overrides(newsletter_from=f"X <x@example.org>{bad}")


def test_attachments_wrap_the_alternative_in_mixed(settings, tmp_path):
    png = tmp_path / "shot-375-light.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    data = MessageFactory(result(), settings).build(Recipient(1, "a@example.org", "A"))[1]
    msg = parse(with_attachments(data, [png]))
    assert msg.get_content_type() == "multipart/mixed"
    parts = list(msg.iter_parts())
    assert parts[0].get_content_type() == "multipart/alternative"
    assert parts[1].get_filename() == "shot-375-light.png"
    assert parts[1].get_content() == png.read_bytes()
