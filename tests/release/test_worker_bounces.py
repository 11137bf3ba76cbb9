"""`newsletter worker` reads the bounce mailbox every NEWSLETTER_BOUNCE_POLL_SECONDS when it is set:
a maildir, an injected clock, and a short poll for the running loop (no sleeps)."""

from __future__ import annotations

import mailbox
import threading

from newsletter.release.worker import Worker
from newsletter.return_path import ReturnPaths
from newsletter.store import connect
from tests.delivery.fakes import send
from tests.helpers import wait_until
from tests.tracking.bounce_helpers import corpus_message

BOUNCE_ADDRESS = "bounces@news.example.org"


def bounce_settings(settings, tmp_path, **overrides):
    box = mailbox.Maildir(tmp_path / "bounces", create=True)
    return box, settings.with_overrides(newsletter_bounce_address=BOUNCE_ADDRESS,
                                        newsletter_bounce_mailbox=f"maildir://{tmp_path / 'bounces'}", **overrides)


def hard_bounce_for(config, issue, address: str) -> bytes:
    """Send the issue (outbox) and return a Postfix hard bounce for ``address``'s delivery, by its VERP address."""
    report = send(issue, config)
    conn = connect(config.newsletter_database)
    try:
        [(sid,)] = conn.execute("SELECT id FROM subscribers WHERE email_key = ?", (address,)).fetchall()
    finally:
        conn.close()
    verp = ReturnPaths(BOUNCE_ADDRESS, config.newsletter_secret_key).address(report.send_id, int(sid), 1)
    return corpus_message("postfix_hard.eml", verp=verp, rcpt=address)


def status_of(config, address: str) -> str:
    conn = connect(config.newsletter_database)
    try:
        return str(conn.execute("SELECT status FROM subscribers WHERE email_key = ?", (address,)).fetchone()[0])
    finally:
        conn.close()


def test_the_worker_reads_the_mailbox_at_its_interval(issue, settings, people, clock, tmp_path):
    people(2)
    box, config = bounce_settings(settings, tmp_path, newsletter_bounce_poll_seconds=300)
    box.add(hard_bounce_for(config, issue, "p1@example.org"))
    box.add(corpus_message("auto_reply.eml", verp=BOUNCE_ADDRESS))
    lines: list[str] = []
    worker = Worker(config, clock=clock, log=lines.append)

    report = worker.read_bounces()
    assert report is not None and (report.read, report.hard, report.auto_replies, report.suppressed) == (2, 1, 1, 1)
    assert status_of(config, "p1@example.org") == "bounced" and status_of(config, "p2@example.org") == "active"
    assert lines == [f"bounce mailbox: {report.line()}"] and "p1@example.org" not in lines[0]  # counts, no addresses
    assert len(box) == 1  # the auto-reply stays

    box.add(corpus_message("auto_reply.eml", verp=BOUNCE_ADDRESS, bounce_id="<bounce-2@mail.example.net>"))
    assert worker.read_bounces() is None  # not due yet
    clock.advance(seconds=299)
    assert worker.read_bounces() is None and len(lines) == 1
    clock.advance(seconds=1)
    again = worker.read_bounces()
    assert again is not None and (again.read, again.auto_replies, again.hard) == (2, 2, 0)
    assert len(lines) == 2


def test_without_a_mailbox_nothing_is_read(settings, clock):
    lines: list[str] = []
    assert Worker(settings, clock=clock, log=lines.append).read_bounces() is None
    assert lines == []


def test_a_mailbox_that_cannot_be_read_is_a_log_line_not_a_crash(settings, clock, tmp_path):
    config = settings.with_overrides(newsletter_bounce_mailbox=f"maildir://{tmp_path / 'missing'}",
                                     newsletter_bounce_poll_seconds=60)
    lines: list[str] = []
    worker = Worker(config, clock=clock, log=lines.append)
    assert worker.read_bounces() is None
    assert lines == [f"bounce mailbox not read: NEWSLETTER_BOUNCE_MAILBOX: '{tmp_path / 'missing'}' is not a maildir "
                     "(cur/, new/ and tmp/)"]
    assert worker.read_bounces() is None and len(lines) == 1  # tried again after the interval, not in a loop
    clock.advance(seconds=60)
    worker.read_bounces()
    assert len(lines) == 2


def test_the_running_worker_reads_bounces_until_stopped(issue, settings, people, tmp_path):
    people(1)
    box, config = bounce_settings(settings, tmp_path, newsletter_bounce_poll_seconds=0.05,
                                  newsletter_worker_poll_seconds=0.05)
    lines: list[str] = []
    stop = threading.Event()
    worker = threading.Thread(target=Worker(config, log=lines.append).run, args=(stop,))
    worker.start()
    try:
        wait_until(lambda: any(line.startswith("bounce mailbox: 0 read") for line in lines), 30,
                   message="the worker never read the empty mailbox",
                   abort=lambda: None if worker.is_alive() else "the worker ended")
        box.add(hard_bounce_for(config, issue, "p1@example.org"))
        wait_until(lambda: status_of(config, "p1@example.org") == "bounced", 30,
                   message=lambda: f"the bounce was never read: {lines[-3:]}",
                   abort=lambda: None if worker.is_alive() else "the worker ended")
    finally:
        stop.set()
        worker.join(30)
    assert not worker.is_alive()
    assert any(" 1 hard," in line for line in lines) and len(box) == 0
