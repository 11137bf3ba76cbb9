"""DKIM signing: messages sent through aiosmtpd and the outbox verify with dkimpy against the key in DNS.

The public key is published by a DNS server of the tests' own on loopback
(``dnsserver.py``); dkimpy's own ``verify`` looks it up there. RSA 2048 and
Ed25519 both.
"""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import dkim
import pytest

from newsletter.compose.model import ComposeResult, Issue
from newsletter.delivery.base import Mailing, Recipient
from newsletter.delivery.message import MessageFactory, message_builder, with_attachments
from tests.delivery.fakes import send
from tests.dnsserver import DNSZone, make_key, txt_lookup


@pytest.fixture(scope="module")
def zone():
    """A loopback DNS server for the module."""
    served = DNSZone().start()
    yield served
    served.stop()


@pytest.fixture(scope="module", params=["rsa", "ed25519"])
def key(request, zone, tmp_path_factory):
    """A key of each kind, its public half published at <kind>sel._domainkey.example.org."""
    made = make_key(request.param, tmp_path_factory.mktemp("keys"))
    zone.put(f"{request.param}sel._domainkey.example.org", "TXT", made.record)
    return made


def signed(settings, key):
    return settings.with_overrides(newsletter_dkim_selector=f"{key.kind}sel", newsletter_dkim_private_key=str(key.path))


def tags(message: bytes) -> dict[str, str]:
    header = email.message_from_bytes(message, policy=email.policy.compat32)["DKIM-Signature"]
    return {k.strip(): "".join(v.split()) for k, _, v in (t.partition("=") for t in header.split(";"))}


def check_signed(message: bytes, zone, key) -> None:
    assert message.startswith(b"DKIM-Signature: ")
    assert dkim.verify(message, dnsfunc=txt_lookup(zone)), "the signature does not verify"
    t = tags(message)
    assert t["d"] == "example.org" and t["s"] == f"{key.kind}sel"
    assert t["a"] == ("rsa-sha256" if key.kind == "rsa" else "ed25519-sha256")
    assert t["c"] == "relaxed/relaxed"
    signed_headers = t["h"].lower().split(":")
    for name in ("from", "to", "subject", "date", "message-id", "mime-version", "content-type",
                 "list-unsubscribe", "list-unsubscribe-post", "list-id", "feedback-id"):
        assert name in signed_headers, name


def test_smtp_messages_are_signed_and_verify(smtp_settings, smtp_server, make_list, issue, zone, key):
    handler, _ = smtp_server
    make_list("news", 3)
    report = send(issue, signed(smtp_settings, key))
    assert report.accepted == 3
    assert len(handler.messages) == 3
    for _, _, data in handler.messages:
        check_signed(data, zone, key)  # the bytes as the server received them


def test_outbox_messages_are_signed_and_verify(settings, make_list, issue, zone, key):
    make_list("news", 2)
    config = signed(settings, key)
    report = send(issue, config)
    files = sorted((settings.path("newsletter_outbox") / str(report.plan.send_id)).glob("*.eml"))
    assert report.accepted == 2 and len(files) == 2
    for path in files:
        check_signed(path.read_bytes(), zone, key)


def _result() -> ComposeResult:
    issue = Issue(path=Path("issue.md"), slug="2026-12", meta={}, body="", body_line=1,
                  subject="December", web_url="https://news.example.org/2026-12")
    return ComposeResult(issue=issue, html="<p>Hi %%name%%</p>\n", text="Hi %%name%%\n", links=[], findings=[])


BOB = Recipient(5, "bob@example.net", "Bob", "https://news.example.org/u/t5", "https://news.example.org/2026-12")


def test_a_changed_covered_header_fails_verification(settings, zone, key):
    _, data = MessageFactory(_result(), signed(settings, key), send_id=9, list_name="news").build(BOB)
    lookup = txt_lookup(zone)
    assert dkim.verify(data, dnsfunc=lookup)
    # Someone on the way drops the one-click promise, or changes the list: the signature no longer holds.
    assert not dkim.verify(data.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
                                        b"List-Unsubscribe-Post: nothing"), dnsfunc=lookup)
    assert not dkim.verify(data.replace(b"<news.newsletter.example.org>", b"<other.newsletter.example.org>"),
                           dnsfunc=lookup)


def test_attachments_are_signed_again(settings, zone, key, tmp_path):
    factory = MessageFactory(_result(), signed(settings, key), send_id=9)
    _, data = factory.build(BOB)
    png = tmp_path / "shot.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    lookup = txt_lookup(zone)
    unsigned = with_attachments(data, [png])
    assert b"DKIM-Signature" not in unsigned  # the old signature no longer holds: gone, not left to fail
    resigned = with_attachments(data, [png], factory.signer)
    assert resigned.count(b"DKIM-Signature:") == 1 and dkim.verify(resigned, dnsfunc=lookup)


def test_review_copies_with_screenshots_are_signed(settings, zone, key, tmp_path):
    # The builder the outbox and SMTP use for review copies: the attachments go in, then the signature.
    png = tmp_path / "shot.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    mailing = Mailing(_result(), 0, subject_prefix="[TEST] ", attachments=[png])
    build, _ = message_builder(signed(settings, key), mailing)
    _, data = build(BOB)
    assert b'filename="shot.png"' in data
    assert data.count(b"DKIM-Signature:") == 1
    check_signed(data, zone, key)


def test_the_domain_setting_signs_for_another_domain(settings, zone, tmp_path):
    other = make_key("ed25519", tmp_path)
    zone.put("edsel._domainkey.mail.example.org", "TXT", other.record)
    config = settings.with_overrides(newsletter_dkim_selector="edsel", newsletter_dkim_private_key=str(other.path),
                                     newsletter_dkim_domain="mail.example.org")
    _, data = MessageFactory(_result(), config, send_id=1).build(BOB)
    assert tags(data)["d"] == "mail.example.org"
    assert dkim.verify(data, dnsfunc=txt_lookup(zone))


def test_without_dkim_settings_nothing_is_signed(settings):
    factory = MessageFactory(_result(), settings, send_id=1)
    assert factory.signer is None
    assert b"DKIM-Signature" not in factory.build(BOB)[1]


def test_rsa_signatures_by_openssl_equal_dkimpys_own(settings, zone, tmp_path, monkeypatch):
    """OpenSSL does the RSA step (dkimpy's own is pure Python): PKCS#1 v1.5 is deterministic, so the header
    must be byte for byte the one dkimpy makes alone, for the same message and second."""
    from newsletter.delivery.dkim import SIGNED_HEADERS, load_signer

    made = make_key("rsa", tmp_path)
    zone.put("rsasel._domainkey.example.org", "TXT", made.record)
    signer = load_signer(signed(settings, made), "news@example.org")
    assert signer is not None
    message = (b"From: news@example.org\r\nTo: reader@example.org\r\nSubject: Same bytes\r\n"
               b"Date: Mon, 07 Dec 2026 10:00:00 +0000\r\n\r\nHello.\r\n")
    monkeypatch.setattr("time.time", lambda: 1_796_000_000.0)  # the t= tag
    ours = signer.sign(message)
    theirs = dkim.sign(message, b"rsasel", b"example.org", signer.key.material, canonicalize=(b"relaxed", b"relaxed"),
                       include_headers=[name.encode("ascii") for name in SIGNED_HEADERS]) + message
    assert ours == theirs
    assert dkim.verify(ours, dnsfunc=txt_lookup(zone))
