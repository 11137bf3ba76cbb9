"""How much an outbox send leaves in doubt (issue 20, point 6).

The outbox records each message as soon as its file is in place, as SMTP does:
a SIGKILL leaves in doubt at most the message being written, not the batch of
up to 500 around it. And when the store itself refuses writes (a full disk
under SQLite) the error line still says how many are in doubt.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3

import pytest

from tests.delivery.fakes import rows, start_send, wait_for
from tests.helpers import wait_until

pytestmark = pytest.mark.timeout(180)


def states(database: str) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for sid, state in rows(database, "SELECT subscriber_id, state FROM deliveries ORDER BY subscriber_id"):
        found.setdefault(state, []).append(sid)
    return found


def test_a_kill_while_an_outbox_file_is_written_leaves_only_that_message_in_doubt(cli, settings, issue, make_list,
                                                                                   tmp_path):
    make_list("news", 600)  # one batch of 500, then 100
    folder = tmp_path / "outbox" / "1"
    folder.mkdir(parents=True)
    stall = folder / "300.eml.tmp"
    os.mkfifo(stall)  # writing subscriber 300's message blocks until someone reads: the kill lands there
    proc = start_send(settings, issue)
    try:
        wait_for(lambda: 300 in states(settings.newsletter_database).get("sending", []), proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    written = sorted(int(p.stem) for p in folder.glob("*.eml"))
    found = states(settings.newsletter_database)
    assert written == list(range(1, 300))
    assert found["accepted"] == written  # recorded as each file was written, not when the batch ended
    assert found["sending"] == [300]  # the one message being written: in doubt
    assert len(found["claimed"]) == 200  # the rest of the batch: claimed, never handed over

    stall.unlink()
    run = cli(settings, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 3, run.output  # incomplete: one recipient is in doubt
    assert "599 accepted, 0 failed, 1 in doubt" in run.stdout
    assert "sub300@example.org" in run.stderr


@pytest.mark.sqlite_only  # SQLite's "database or disk is full"
def test_a_full_disk_under_the_database_says_how_many_are_in_doubt(cli, settings, issue, make_list, tmp_path,
                                                                   monkeypatch):
    from newsletter.delivery.lease import live_runs
    from newsletter.delivery.outbox import OutboxBackend
    from newsletter.store import Connection, connect

    make_list("news", 10)
    full = {"now": False}
    written = []
    write = OutboxBackend._write

    def write_then_fill(self, recipient, message_id, data):
        outcome = write(self, recipient, message_id, data)
        written.append(recipient.subscriber_id)
        full["now"] = len(written) >= 5  # the disk fills up just after the 5th file
        return outcome

    def refusing(method):
        def run(self, sql, *args):
            if full["now"] and re.match(r"\s*(INSERT|UPDATE|DELETE)\b", sql, re.I):
                raise self._fail(sqlite3.OperationalError("database or disk is full"))
            return method(self, sql, *args)
        return run

    monkeypatch.setattr(OutboxBackend, "_write", write_then_fill)
    monkeypatch.setattr(Connection, "execute", refusing(Connection.execute))
    monkeypatch.setattr(Connection, "executemany", refusing(Connection.executemany))
    short_lease = settings.with_overrides(newsletter_lease_seconds=1.0)
    run = cli(short_lease, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 1 and "Traceback" not in run.output
    line = run.stderr.strip().splitlines()[-1]
    assert "the disk is full" in line
    # 1-4 recorded; the 5th written but not recorded: in doubt; the rest never handed over.
    assert "send stopped with 4 accepted, 0 failed, 1 in doubt, 0 skipped, 0 suppressed, 5 pending" in line

    monkeypatch.undo()  # room on the disk again; the run that could not close itself has a lease that runs out
    conn = connect(settings.newsletter_database)
    try:
        wait_until(lambda: not live_runs(conn), 30, message="the unclosed run's lease never ran out")
    finally:
        conn.close()
    run = cli(settings, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 3 and "9 accepted, 0 failed, 1 in doubt" in run.stdout
    assert states(settings.newsletter_database)["in_doubt"] == [5]
