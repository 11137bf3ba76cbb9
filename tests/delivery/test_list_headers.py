"""List-Id (one per list) and Feedback-ID (send, list, kind, sender) on every backend; CR/LF refused."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from newsletter.compose.model import ComposeResult, Issue
from newsletter.delivery.base import Recipient
from newsletter.delivery.message import MessageFactory, list_label, shared_headers
from newsletter.errors import HeaderError
from tests.delivery.fakes import send

BOB = Recipient(5, "bob@example.net", "Bob", "https://news.example.org/u/t5", "https://news.example.org/2026-12")


def _result() -> ComposeResult:
    issue = Issue(path=Path("issue.md"), slug="2026-12", meta={}, body="", body_line=1, subject="December",
                  web_url="https://news.example.org/2026-12")
    return ComposeResult(issue=issue, html="<p>Hi %%name%%</p>\n", text="Hi %%name%%\n", links=[], findings=[])


def headers_of(settings, **options) -> email.message.EmailMessage:
    _, data = MessageFactory(_result(), settings, send_id=12, **options).build(BOB)
    return email.message_from_bytes(data, policy=email.policy.default)


@pytest.mark.parametrize(("setting", "list_name", "expected"), [
    ("", "", "Our Newsletter <newsletter.example.org>"),  # test sends: no list
    ("", "news", "Our Newsletter <news.newsletter.example.org>"),
    ("", "Members Only_2026", "Our Newsletter <members-only-2026.newsletter.example.org>"),
    ("Harbour News <lists.example.org>", "members", "Harbour News <members.lists.example.org>"),
    ("lists.example.org", "members", "<members.lists.example.org>"),
    ("lists.example.org", "", "<lists.example.org>"),
])
def test_list_id_is_per_list(settings, setting, list_name, expected):
    msg = headers_of(settings.with_overrides(newsletter_list_id=setting), list_name=list_name)
    assert msg["List-Id"] == expected


def test_feedback_id_names_send_list_and_sender(settings):
    msg = headers_of(settings, list_name="Members")
    assert msg["Feedback-ID"] == "12:members:newsletter:example.org"
    assert len(msg["Feedback-ID"].split(":")) == 4  # Gmail's a:b:c:SenderId
    assert headers_of(settings)["Feedback-ID"] == "12:-:newsletter:example.org"
    assert list_label(":::") == "list" and ":" not in list_label("a:b")


def test_cr_lf_in_the_list_name_or_setting_is_refused(settings):
    with pytest.raises(HeaderError):
        shared_headers(_result(), settings, list_name="news\r\nBcc: x@example.org")


def test_a_send_through_the_outbox_carries_its_lists_headers(settings, issue, make_list):
    make_list("news", 2)
    report = send(issue, settings)
    files = sorted((settings.path("newsletter_outbox") / str(report.plan.send_id)).glob("*.eml"))
    assert report.accepted == 2 and len(files) == 2
    for path in files:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert msg["List-Id"] == "Our Newsletter <news.newsletter.example.org>"
        assert msg["Feedback-ID"] == f"{report.plan.send_id}:news:newsletter:example.org"


def test_sendgrid_gets_list_id_and_feedback_id_of_the_list_sent_to(sendgrid_settings, sendgrid_server, issue, make_list):
    make_list("news", 2)
    report = send(issue, sendgrid_settings)
    assert sendgrid_server.violations == []
    body = sendgrid_server.accepted[0]["body"]
    assert body["headers"]["List-Id"] == "Our Newsletter <news.newsletter.example.org>"
    assert body["headers"]["Feedback-ID"] == f"{report.send_id}:news:newsletter:example.org"
