"""``send --to-non-readers-of``: a resend over real SMTP (aiosmtpd), once, never to who left; bad input."""

from __future__ import annotations

import email
import email.policy
import json

import pytest

from tests.delivery.fakes import rows


def add_event(database: str, send_id: int, address: str, kind: str, verdict: str) -> None:
    """An open or click of ``address``'s copy of send ``send_id``, judged ``verdict``."""
    from newsletter.store import connect, transaction

    conn = connect(database)
    with transaction(conn):
        sid = conn.execute("SELECT id FROM subscribers WHERE email = ?", (address,)).fetchone()[0]
        conn.execute("INSERT INTO events (source, type, send_id, subscriber_id, email, occurred_at, verdict)"
                     " VALUES ('tracking', ?, ?, ?, ?, '2026-12-01T10:00:00Z', ?)", (kind, send_id, sid, address, verdict))
    conn.close()


def subjects(handler) -> dict[str, str]:
    found = {}
    for _, rcpts, raw in handler.messages:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        found[rcpts[0].lower()] = str(message["Subject"])
    return found


def test_a_resend_reaches_the_non_readers_once_with_its_own_subject(cli, smtp_settings, smtp_server, issue, make_list):
    handler, _ = smtp_server
    database = smtp_settings.newsletter_database
    make_list("news", 6)
    assert cli(smtp_settings, "send", issue, "--list", "news", "--yes").exit_code == 0
    assert len(handler.messages) == 6
    add_event(database, 1, "sub1@example.org", "open", "human")
    add_event(database, 1, "sub2@example.org", "open", "machine")  # Apple's proxy: not a read
    add_event(database, 1, "sub3@example.org", "click", "unknown")  # a click we cannot judge: a read
    add_event(database, 1, "sub5@example.org", "open", "unknown")  # an open we cannot judge: not a read
    assert cli(smtp_settings, "subscribers", "unsubscribe", "sub4@example.org").exit_code == 0  # left
    make_list("news", 7)  # sub7 joined after the first send: not a recipient of it
    handler.messages.clear()

    resend = ("send", issue, "--list", "news", "--to-non-readers-of", "1", "--subject", "In case you missed it")
    run = cli(smtp_settings, *resend, "--dry-run")
    assert run.exit_code == 0, run.output
    assert "Resend:     3 of 6 recipients of send 1 have no human open or click" in run.stdout
    assert "Subject:    In case you missed it" in run.stdout and handler.messages == []

    run = cli(smtp_settings, *resend, "--yes")
    assert run.exit_code == 0, run.output
    assert "Send 2 (done): 3 accepted" in run.stdout
    assert subjects(handler) == {f"sub{i}@example.org": "In case you missed it" for i in (2, 5, 6)}
    assert rows(database, "SELECT audience, subject FROM sends WHERE id = 2") == [
        ("non-readers-of:1", "In case you missed it")]

    run = cli(smtp_settings, *resend, "--yes")  # again: the same send, nothing left to send
    assert run.exit_code == 0 and "Send 2 (done)" in run.stdout and "this run: 0 accepted" in run.stdout
    assert len(handler.messages) == 3
    listed = json.loads(cli(smtp_settings, "sends", "2", "--json").stdout)
    assert listed[0]["subject"] == "In case you missed it" and listed[0]["accepted"] == 3


def test_who_leaves_after_the_audience_is_fixed_is_suppressed_at_claim(cli, settings, issue, make_list, tmp_path):
    from newsletter.delivery.plan import SendOptions
    from newsletter.delivery.send import send_issue

    make_list("news", 4)
    assert cli(settings, "send", issue, "--list", "news", "--yes").exit_code == 0
    cli(settings, "subscribers", "unsubscribe", "sub1@example.org")  # left before: not in the audience

    # The audience is fixed (its ledger written), then sub2 leaves before any batch is claimed.
    from newsletter.store import connect, sends
    from newsletter.store.segments import Audience
    from newsletter.store.sends import SendVersion

    conn = connect(settings.newsletter_database)
    send_id, size, _ = sends.create_send(conn, "test-issue", 1, Audience.of("news", (), non_readers_of=1),
                                         SendVersion("", "Test issue", [], "outbox"))
    conn.close()
    assert (send_id, size) == (2, 3)
    cli(settings, "subscribers", "unsubscribe", "sub2@example.org")
    report = send_issue(issue, SendOptions("news", non_readers_of=1, allow_changed=True), settings)
    assert (report.send_id, report.totals.accepted, report.totals.suppressed) == (2, 2, 1)
    assert len(list((tmp_path / "outbox" / "2").glob("*.eml"))) == 2


@pytest.mark.parametrize("extra, message", [
    (("--to-non-readers-of", "9"), "--to-non-readers-of: no send 9 (see `newsletter sends`)"),
    (("--to-non-readers-of", "1", "--include-new"), "--include-new: does not go with --to-non-readers-of"),
    (("--to-non-readers-of", "1", "--subject", "a\nb"), "--subject: contains"),
    (("--to-non-readers-of", "1", "--subject", " "), "--subject: is empty"),
    (("--subject", "Other"), "--subject: goes with --to-non-readers-of SEND"),
    (("--after", "3d"), "--after: goes with --to-non-readers-of SEND"),
    (("--to-non-readers-of", "1", "--after", "3 days"), "--after: '3 days' is not a duration"),
    (("--to-non-readers-of", "1", "--after", "0d"), "must be more than nothing"),
    (("--to-non-readers-of", "1", "--after", "3d", "--at", "2030-01-01 09:00", "--tz", "UTC"),
     "--after: choose either --after"),
    (("--to-non-readers-of", "2"), "--to-non-readers-of: send 2 is itself a resend"),
    (("--to-non-readers-of", "3"), "--to-non-readers-of: send 3 went to another list, not 'news'"),
])
def test_bad_resends_are_one_line_and_exit_2(cli, settings, issue, make_list, extra, message):
    make_list("news", 2)
    make_list("other", 1)
    assert cli(settings, "send", issue, "--list", "news", "--yes").exit_code == 0
    assert cli(settings, "send", issue, "--list", "news", "--to-non-readers-of", "1", "--yes").exit_code == 0
    assert cli(settings, "send", issue, "--list", "other", "--yes").exit_code == 0
    before = rows(settings.newsletter_database, "SELECT COUNT(*) FROM deliveries")
    run = cli(settings, "send", issue, "--list", "news", "--yes", *extra)
    assert run.exit_code == 2, run.output
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert rows(settings.newsletter_database, "SELECT COUNT(*) FROM deliveries") == before  # nothing written


def test_a_send_still_going_cannot_be_followed(cli, settings, issue, make_list):
    make_list("news", 2)
    run = cli(settings, "send", issue, "--list", "news", "--yes", "--at", "2099-01-01 09:00", "--tz", "UTC")
    assert run.exit_code == 0, run.output
    run = cli(settings, "send", issue, "--list", "news", "--yes", "--to-non-readers-of", "1")
    assert run.exit_code == 2
    assert "send 1 is not finished (2 recipient(s) pending or being sent)" in run.stderr


def test_a_second_resend_leaves_out_whom_the_first_failed_so_a_retry_sends_them_one_copy(
        cli, smtp_settings, smtp_server, issue, make_list):
    # A regression: the second resend (other conditions) took sub2, whose copy of the first was refused; the
    # first resend's --retry-failed then sent sub2 the issue a second time.
    handler, _ = smtp_server
    make_list("news", 3)
    assert cli(smtp_settings, "send", issue, "--list", "news", "--yes").exit_code == 0
    handler.messages.clear()
    handler.refuse_data = {"sub2@example.org": "554 5.7.1 Rejected as spam"}
    first = ("send", issue, "--list", "news", "--yes", "--to-non-readers-of", "1", "--subject", "Missed it?")
    assert cli(smtp_settings, *first).exit_code == 3
    assert rows(smtp_settings.newsletter_database, "SELECT status FROM subscribers WHERE email = 'sub2@example.org'") \
        == [("active",)]
    handler.refuse_data = {}
    second = cli(smtp_settings, "send", issue, "--list", "news", "--yes", "--to-non-readers-of", "1",
                 "--subject", "Still there?", "--where", "city!=Atlantis")
    assert second.exit_code in (0, 3) and "Resend:     0 of 3 recipients of send 1" in second.stdout, second.output
    assert cli(smtp_settings, *first, "--retry-failed").exit_code == 0
    copies = sorted((rcpts[0].lower(), str(email.message_from_bytes(raw, policy=email.policy.default)["Subject"]))
                    for _, rcpts, raw in handler.messages)
    assert copies == [("sub1@example.org", "Missed it?"), ("sub2@example.org", "Missed it?"),
                      ("sub3@example.org", "Missed it?")]


def test_a_resend_run_again_with_another_subject_names_the_subject(cli, settings, issue, make_list, tmp_path):
    """A resend's subject is part of its version: run again under another one, it says the subject changed."""
    make_list("news", 3)
    assert cli(settings, "send", issue, "--list", "news", "--yes").exit_code == 0
    first = cli(settings, "send", issue, "--list", "news", "--to-non-readers-of", "1", "--subject", "Missed it?",
                "--yes")
    assert first.exit_code == 0, first.output
    again = cli(settings, "send", issue, "--list", "news", "--to-non-readers-of", "1", "--yes")
    assert again.exit_code == 2
    assert "the subject ('Missed it?', now 'Test issue') changed since it was partly sent" in again.stderr
