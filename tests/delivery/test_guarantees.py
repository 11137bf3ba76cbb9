"""One regression test per defect of the exactly-once issue, against the real backends and servers.

Each test names the item it covers; what the servers really received is the
evidence, next to what the ledger and the CLI say.
"""

from __future__ import annotations

import json
import signal
import sqlite3

import pytest

from tests.databases import migration_versions, open_together
from tests.delivery.fakes import RecordingHandler, free_port, rows, send, settings_env, start_send, wait_for
from tests.delivery.fakes import table_counts as count_rows

pytestmark = pytest.mark.timeout(120)


def ledger_counts(database) -> dict[str, int]:
    return dict(rows(database, "SELECT state, COUNT(*) FROM deliveries GROUP BY state"))


def table_counts(database) -> tuple[int, ...]:
    return count_rows(database, "sends", "deliveries")


class RefuseAfterData(RecordingHandler):
    """Answers DATA for chosen addresses with a refusal (the message is not taken)."""

    def __init__(self, replies: dict[str, str]) -> None:
        super().__init__()
        self.after_data = replies

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
        reply = self.after_data.get(envelope.rcpt_tos[0].lower())
        if reply:
            if reply.startswith("4"):
                self.after_data.pop(envelope.rcpt_tos[0].lower())  # greylisting: accepted next time
            return reply
        return await super().handle_DATA(server, session, envelope)


def smtp_server_with(handler, **kw):
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kw)
    controller.start()
    return controller, port


# 1. SMTP refusals after DATA ----------------------------------------------------


def test_smtp_refusals_after_data_are_temporary_or_permanent_never_accepted(settings, issue, make_list):
    emails = make_list("news", 20)
    handler = RefuseAfterData({emails[1]: "451 4.7.1 greylisted", emails[2]: "550 5.7.1 looks like spam",
                               emails[3]: "421 4.3.0 closing"})
    controller, port = smtp_server_with(handler)
    try:
        config = settings.with_overrides(newsletter_backend="smtp", smtp_host="127.0.0.1", smtp_port=port,
                                         smtp_connections=2)
        report = send(issue, config, retry_delays=(0.01,))
    finally:
        controller.stop()
    delivered = handler.delivered()
    assert emails[2] not in delivered and max(delivered.values()) == 1
    assert set(delivered) == set(emails) - {emails[2]}  # the 4xx ones arrived on the end-of-run retry
    assert (report.totals.accepted, report.totals.failed) == (19, 1)
    assert report.failures == [(emails[2], "message refused: 550 5.7.1 looks like spam")]


# 2. a 413 split whose later half meets 401 ------------------------------------------


def test_a_split_batch_whose_second_half_is_refused_keeps_the_first_half_accepted(
        cli, sendgrid_settings, sendgrid_server, issue, make_list):
    emails = make_list("news", 1000)
    sendgrid_server.too_large_over = 500
    sendgrid_server.faults = [None, None, "401"]  # 1000 -> 413; 500 accepted; 500 -> 401
    run = cli(sendgrid_settings, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 2 and "refused the API key (HTTP 401)" in run.stderr
    assert "500 accepted, 0 failed, 0 in doubt, 0 skipped, 0 suppressed, 500 pending" in run.stderr
    assert ledger_counts(sendgrid_settings.newsletter_database) == {"accepted": 500, "queued": 500}
    run = cli(sendgrid_settings, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 0, run.output
    assert sendgrid_server.delivered == {e: 1 for e in emails}


# 4. international addresses ----------------------------------------------------------


@pytest.mark.sqlite_only  # about SMTP; it makes a second database file
def test_international_domains_go_out_as_idna_and_a_utf8_local_part_fails_alone(settings, issue, make_list):
    make_list("news", 3, extra=[("user@exämple.org", "Ü"), ("jörg@example.org", "Jörg")])
    for utf8 in (False, True):
        handler = RecordingHandler()
        controller, port = smtp_server_with(handler, enable_SMTPUTF8=utf8)
        try:
            config = settings.with_overrides(newsletter_backend="smtp", smtp_host="127.0.0.1", smtp_port=port,
                                             newsletter_database=f"{settings.newsletter_database}.{utf8}")
            make_list("news", 3, extra=[("user@exämple.org", "Ü"), ("jörg@example.org", "Jörg")],
                      database=config.newsletter_database)
            report = send(issue, config, retry_delays=())
        finally:
            controller.stop()
        delivered = handler.delivered()
        assert delivered["user@xn--exmple-cua.org"] == 1
        if utf8:
            assert delivered["jörg@example.org"] == 1 and report.status == "done"
        else:
            assert "jörg@example.org" not in delivered and report.totals.failed == 1
            assert report.failures == [("jörg@example.org", "the address needs SMTPUTF8, which the server does not offer")]
        assert len(delivered) == 5 - (0 if utf8 else 1) and max(delivered.values()) == 1


# 6. SMTP: a kill leaves in doubt only the message on the wire ---------------------------


def test_a_killed_smtp_send_leaves_only_the_message_in_flight_in_doubt(cli, smtp_settings, smtp_server, issue, make_list):
    handler, _ = smtp_server
    emails = make_list("news", 30)
    config = smtp_settings.with_overrides(smtp_connections=1)
    handler.hang_after = 5  # five arrive, the sixth stalls after its DATA
    proc = start_send(config, issue)
    try:
        wait_for(handler.hung.is_set, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    handler.release.set()
    handler.hang_after = None
    # 10. `sends` right after the kill shows the truth, from the ledger.
    listed = json.loads(cli(config, "sends", "--json").stdout)[0]
    assert (listed["status"], listed["accepted"], listed["in_doubt"], listed["pending"]) == ("partial", 5, 1, 24)
    run = cli(config, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 3 and "29 accepted, 0 failed, 1 in doubt" in run.stdout
    assert handler.delivered() == {e: 1 for e in emails if e != emails[5]}


# 7. doubts settled from the provider's own record ---------------------------------------


def test_in_doubt_recipients_are_settled_from_sendgrid_events(cli, sendgrid_settings, sendgrid_server, issue,
                                                              make_list, tmp_path):
    emails = make_list("news", 4)
    sendgrid_server.faults = ["drop-after"]  # SendGrid took them; the answer was lost
    report = send(issue, sendgrid_settings)
    assert report.totals.in_doubt == 4
    taken = [a["personalization"]["custom_args"] for a in sendgrid_server.accepted]
    assert {c["attempt"] for c in taken} == {"1"}
    events = [
        {"event": "processed" if i < 3 else "dropped", "email": e, "timestamp": 1795000000, "sg_message_id": f"m{i}",
         **taken[i]}  # no sg_event_id: de-duplicated on (message id, event, timestamp)
        for i, e in enumerate(emails)
    ]
    saved = tmp_path / "events.json"
    saved.write_text(json.dumps(events + events))
    assert cli(sendgrid_settings, "events", "import", saved).exit_code == 0
    assert count_rows(sendgrid_settings.newsletter_database, "events") == (4,)
    run = cli(sendgrid_settings, "send", issue, "--list", "news", "--yes", "--dry-run")
    assert "Settled:    4 in doubt settled from the provider's events (3 accepted, 1 failed)" in run.stdout
    run = cli(sendgrid_settings, "send", issue, "--list", "news", "--yes")
    assert "Settled 4 in-doubt recipient(s)" in run.stdout
    assert "3 accepted, 1 failed, 0 in doubt" in run.stdout and run.exit_code == 3
    assert sendgrid_server.delivered == {e: 1 for e in emails}  # nobody was sent it again


# 9. SIGTERM stops after the batch in flight, with a summary ------------------------------


def test_sigterm_finishes_the_batch_in_flight_prints_a_summary_and_exits_130(settings, issue, make_list, tmp_path):
    make_list("news", 30)
    proc = start_send(settings, issue, "--rate", "10")  # batches of 10, one a second
    outbox = tmp_path / "outbox" / "1"
    try:
        wait_for(lambda: outbox.is_dir() and len(list(outbox.glob("*.eml"))) >= 10, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert "0 in doubt" in out and "pending" in out and "run the same command again" in err.lower()
    counts = ledger_counts(settings.newsletter_database)
    assert counts.get("sending", 0) == counts.get("claimed", 0) == counts.get("in_doubt", 0) == 0
    assert counts["accepted"] == len(list(outbox.glob("*.eml"))) and counts["accepted"] + counts["queued"] == 30
    assert send(issue, settings).status == "done"


# 10. operational failures are reported as such -------------------------------------------


def test_a_full_disk_in_the_outbox_is_one_line_and_leaves_no_partial_file(cli, settings, issue, make_list, tmp_path):
    make_list("news", 10)
    folder = tmp_path / "outbox" / "1"
    folder.mkdir(parents=True)
    (folder / "5.eml.tmp").symlink_to("/dev/full")  # writing subscriber 5's message hits ENOSPC
    run = cli(settings, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 1 and "Traceback" not in run.output
    line = run.stderr.strip().splitlines()[-1]
    assert line.startswith(f"Error: {folder}: cannot write message file: No space left on device")
    assert "4 accepted, 0 failed, 0 in doubt, 0 skipped, 0 suppressed, 6 pending" in line
    assert not list(folder.glob("*.tmp"))
    run = cli(settings, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 0 and len(list(folder.glob("*.eml"))) == 10


@pytest.mark.sqlite_only  # SQLite's file lock (PostgreSQL locks rows: see tests/store/test_postgres.py)
def test_a_locked_database_is_one_line_and_nothing_is_written(cli, settings, issue, make_list):
    make_list("news", 3)
    holder = sqlite3.connect(settings.newsletter_database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        run = cli(settings.with_overrides(newsletter_database_timeout=0.2), "send", issue, "--list", "news", "--yes")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert run.exit_code == 1 and "Traceback" not in run.output
    assert run.stderr.strip() == f"Error: {settings.newsletter_database}: the database is locked by another process (waited 0.2 s)"
    assert table_counts(settings.newsletter_database) == (0, 0)


# 11. settings that would break messages are refused before anything is written ----------


@pytest.mark.parametrize("name, value, message", [
    ("NEWSLETTER_PUBLIC_URL", "https://news.example.org>\r\nBcc: victim@example.org", "control character"),
    ("NEWSLETTER_PUBLIC_URL", "", "must be set"),
    ("NEWSLETTER_PUBLIC_URL", "/relative", "absolute"),
    ("SENDGRID_API_URL", "api.sendgrid.com", "absolute"),
    ("NEWSLETTER_RATE", "nan", "finite"),
    ("NEWSLETTER_RATE", "inf", "finite"),
    ("NEWSLETTER_RATE", "-1", "positive"),
    ("SMTP_TIMEOUT", "0", "positive"),
    ("SENDGRID_TIMEOUT", "-5", "positive"),
])
def test_broken_settings_are_refused_before_anything_is_written(cli, settings, issue, make_list, monkeypatch,
                                                                 tmp_path, name, value, message):
    make_list("news", 2)
    monkeypatch.setenv(name, value)
    from typer.testing import CliRunner

    from newsletter.cli import app

    run = CliRunner().invoke(app, ["send", str(issue), "--list", "news", "--yes"],
                             env={**settings_env(settings), name: value})
    assert run.exit_code == 2 and run.stderr.startswith(f"Error: {name}: ") and message in run.stderr
    assert "victim" not in run.stderr or "\r\n" not in run.stderr
    assert table_counts(settings.newsletter_database) == (0, 0) and not (tmp_path / "outbox").exists()


def test_a_plain_http_public_url_is_a_warning_when_local_links_are_allowed(cli, smtp_settings, issue, make_list):
    make_list("news", 1)
    config = smtp_settings.with_overrides(newsletter_public_url="http://news.example.org")
    run = cli(config, "send", issue, "--list", "news", "--dry-run")
    assert "NEWSLETTER_PUBLIC_URL: http://news.example.org is not https://" in run.stderr


# 12. first open of a fresh database from several processes at once -----------------------


def test_concurrent_first_open_applies_each_migration_once(tmp_path):
    from newsletter.store import list_migrations

    for trial in range(5):
        path = str(tmp_path / f"fresh-{trial}.db")
        assert open_together(path) == [0] * 6
        assert migration_versions(path) == [n for n, _, _ in list_migrations()]
