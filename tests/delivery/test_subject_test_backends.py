"""Each variant's subject over the real stand-ins: SendGrid's personalizations carry their own subject,
and SMTP's messages are built per recipient; the body is the same for every variant."""

from __future__ import annotations

import email
import email.policy

from newsletter.store.subject_tests import SubjectTest
from tests.delivery.fakes import rows, send

TEST = SubjectTest(("Hello %%first_name%%, read this", "Third way"), 100, 3600, "clicks")


def _variants(database: str) -> dict[str, str]:
    return {r[0]: r[1] for r in rows(database, "SELECT s.email, d.variant FROM deliveries d"
                                               " JOIN subscribers s ON s.id = d.subscriber_id")}


def test_sendgrid_personalizations_carry_each_variant_subject(sendgrid_settings, sendgrid_server, issue, make_list):
    make_list("news", 9)
    report = send(issue, sendgrid_settings, test=TEST)
    assert report.ok and report.totals.accepted == 9
    assert sendgrid_server.violations == []
    variants = _variants(sendgrid_settings.newsletter_database)
    seen = {}
    for accepted in sendgrid_server.accepted:
        p, body = accepted["personalization"], accepted["body"]
        seen[p["to"][0]["email"]] = p.get("subject", body["subject"])
    expected = {"A": "Test issue", "B": "Hello Subscriber, read this", "C": "Third way"}  # B personalised
    assert len(seen) == 9
    for address, subject in seen.items():
        assert subject == expected[variants[address]], (address, variants[address])
    assert sorted(variants.values()) == ["A"] * 3 + ["B"] * 3 + ["C"] * 3


def test_smtp_messages_carry_each_variant_subject_and_the_same_body(smtp_settings, smtp_server, issue, make_list):
    handler, _ = smtp_server
    make_list("news", 6)
    report = send(issue, smtp_settings, test=TEST._replace(subjects=("Zweiter Betreff – grün",)))
    assert report.ok and report.totals.accepted == 6
    variants = _variants(smtp_settings.newsletter_database)
    for _, rcpts, raw in handler.messages:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        want = "Test issue" if variants[rcpts[0]] == "A" else "Zweiter Betreff – grün"
        assert msg["Subject"] == want and len(msg.get_all("Subject")) == 1
        assert "welcome to this issue" in msg.get_body(("plain",)).get_content()  # the body is every variant's
    assert len(handler.messages) == 6 and sorted(variants.values()) == ["A"] * 3 + ["B"] * 3


def test_a_variant_subject_uses_the_imported_first_name(smtp_settings, smtp_server, issue, make_list):
    """``%%first_name%%`` in variant B's subject alone (not in the issue) still takes the imported first name."""
    from newsletter.store import connect, transaction
    from newsletter.store import subscribers as store

    handler, _ = smtp_server
    given = {"kat@example.org": ("Katherine Smith", "Kit"), "lou@example.org": ("Louisa Jones", "Lou"),
             "max@example.org": ("Maximilian Roe", "Max")}
    make_list("news", 0)
    conn = connect(smtp_settings.newsletter_database)
    with transaction(conn):
        list_id = store.ensure_list(conn, "news")
        for address, (name, first) in given.items():
            sid, _, _ = store.upsert_subscriber(conn, address, name, {"first_name": first})
            store.add_membership(conn, list_id, sid)
    conn.close()
    report = send(issue, smtp_settings, test=TEST._replace(subjects=("Hello %%first_name%%, read this",)))
    assert report.ok and report.totals.accepted == 3
    variants = _variants(smtp_settings.newsletter_database)
    subjects = {rcpts[0]: email.message_from_bytes(raw, policy=email.policy.default)["Subject"]
                for _, rcpts, raw in handler.messages}
    b = [address for address, variant in variants.items() if variant == "B"]
    assert b and all(subjects[address] == f"Hello {given[address][1]}, read this" for address in b)
