"""``send --to-non-readers-of SEND --after 3d``: scheduled for SEND's end plus the delay, its audience fixed
when a worker starts it (a fake clock, no waiting); approvals of a resend's own build and subject."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import timedelta

import pytest

from newsletter.delivery.plan import SendOptions
from newsletter.errors import InputError
from newsletter.release.clock import parse_stamp
from newsletter.release.schedule import schedule
from newsletter.release.worker import Worker
from tests.delivery.fakes import rows


def outbox(tmp_path, send_id: int) -> dict[str, str]:
    """``{recipient: subject}`` of the messages of send ``send_id`` in the outbox."""
    found = {}
    for path in (tmp_path / "outbox" / str(send_id)).glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        found[str(message["To"]).lower()] = str(message["Subject"])
    return found


def read(database: str, address: str, kind: str = "open", verdict: str = "human") -> None:
    from newsletter.store import connect, transaction

    conn = connect(database)
    with transaction(conn):
        sid = conn.execute("SELECT id FROM subscribers WHERE email = ?", (address,)).fetchone()[0]
        conn.execute("INSERT INTO events (source, type, send_id, subscriber_id, email, occurred_at, verdict)"
                     " VALUES ('tracking', ?, 1, ?, ?, '2026-12-01T10:00:00Z', ?)", (kind, sid, address, verdict))
    conn.close()


def first_send(cli, settings, issue, people) -> object:
    """Send the issue to 4 people now; return when send 1 finished (its stored end)."""
    people(4)
    assert cli(settings, "send", issue, "--list", "news", "--yes").exit_code == 0
    [(finished,)] = rows(settings.newsletter_database, "SELECT finished_at FROM sends WHERE id = 1")
    return parse_stamp(finished)


def test_a_resend_after_3d_starts_then_and_leaves_out_who_read_meanwhile(cli, settings, issue, people, clock, tmp_path):
    finished = first_send(cli, settings, issue, people)
    read(settings.newsletter_database, "p1@example.org")
    clock.set(finished + timedelta(hours=1))
    options = SendOptions("news", non_readers_of=1, after="3d", subject="Still in the harbour?")
    done = schedule(issue, options, settings, actor="ann@example.org", clock=clock)
    assert (done.route, done.send_id, done.moment.utc) == ("worker", 2, finished + timedelta(days=3))
    assert done.plan.to_send == 3 and done.plan.source_accepted == 4
    assert rows(settings.newsletter_database, "SELECT COUNT(*) FROM deliveries WHERE send_id = 2") == [(0,)]

    read(settings.newsletter_database, "p2@example.org", "click", "unknown")  # reads while it waits
    worker = Worker(settings, clock=clock, name="w1")
    clock.set(finished + timedelta(days=3) - timedelta(minutes=1))
    assert worker.run_once() == [] and outbox(tmp_path, 2) == {}
    clock.set(finished + timedelta(days=3))
    [started] = worker.run_once()
    assert (started.send_id, started.state) == (2, "done")
    assert outbox(tmp_path, 2) == {"p3@example.org": "Still in the harbour?", "p4@example.org": "Still in the harbour?"}
    assert worker.run_once() == []
    run = cli(settings, "send", issue, "--list", "news", "--yes", "--to-non-readers-of", "1",
              "--subject", "Still in the harbour?")
    assert run.exit_code == 0 and "this run: 0 accepted" in run.stdout and len(outbox(tmp_path, 2)) == 2
    log = cli(settings, "sends", "2", "--log").stdout
    assert [line.split("\t")[1] for line in log.splitlines()] == ["schedule", "start", "finish", "start", "finish"]


def test_after_a_moment_already_past_is_refused(cli, settings, issue, people, clock):
    finished = first_send(cli, settings, issue, people)
    clock.set(finished + timedelta(days=4))
    with pytest.raises(InputError, match="which is past; to send now, leave out --after"):
        schedule(issue, SendOptions("news", non_readers_of=1, after="3d"), settings, actor="ann", clock=clock)
    assert rows(settings.newsletter_database, "SELECT COUNT(*) FROM sends") == [(1,)]


def test_a_resend_cancelled_before_its_time_leaves_nothing(cli, settings, issue, people, clock, tmp_path):
    finished = first_send(cli, settings, issue, people)
    clock.set(finished)
    run = cli(settings, "send", issue, "--list", "news", "--yes", "--to-non-readers-of", "1", "--after", "1d12h")
    assert run.exit_code == 0, run.output
    assert "Scheduled send 2 for" in run.stdout and "Resend:     4 of 4 recipients of send 1" in run.stdout
    assert cli(settings, "cancel", "2").exit_code == 0
    clock.set(finished + timedelta(days=2))
    assert Worker(settings, clock=clock).run_once() == [] and outbox(tmp_path, 2) == {}


def test_a_resend_is_a_build_of_its_own_to_approve(cli, settings, issue, people, tmp_path):
    gated = settings.with_overrides(newsletter_required_approvals=1)
    people(2)
    assert cli(gated, "approve", issue, "--list", "news", "--as", "ann@example.org").exit_code == 0
    assert cli(gated, "send", issue, "--list", "news", "--yes").exit_code == 0
    resend = ("--list", "news", "--to-non-readers-of", "1", "--subject", "Missed it?")
    run = cli(gated, "send", issue, "--yes", *resend)
    assert run.exit_code == 1 and "needs 1 approval(s)" in run.stderr
    assert "subject ('Harbour news' -> 'Missed it?')" in run.stderr
    assert "newsletter approve" in run.stderr and "--to-non-readers-of 1 --subject 'Missed it?'" in run.stderr
    run = cli(gated, "approve", issue, "--as", "ann@example.org", *resend)
    assert run.exit_code == 0 and "non-readers of send 1" in run.stdout and "2 recipient(s)" in run.stdout
    listed = json.loads(cli(gated, "approvals", issue, "--json").stdout)
    assert [(a["audience"], a["counts"]) for a in listed] == [("list news", True), ("list news, non-readers of send 1", True)]
    run = cli(gated, "send", issue, "--yes", "--list", "news", "--to-non-readers-of", "1", "--subject", "Other")
    assert run.exit_code == 1  # another subject: not the build approved
    run = cli(gated, "send", issue, "--yes", *resend)
    assert run.exit_code == 0, run.output
    assert set(outbox(tmp_path, 2).values()) == {"Missed it?"}
