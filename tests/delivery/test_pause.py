"""Pause and resume during a send, over a real SMTP server: nobody gets it twice, nobody is lost.

The send runs at 10 messages a second (batches of 10), so the pause lands
between batches while the run is under way; the server's own count is the
evidence.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime

import pytest

from tests.delivery.fakes import start_send, wait_for
from tests.helpers import wait_until

pytestmark = pytest.mark.timeout(120)


def ledger_states(database) -> dict[str, int]:
    conn = sqlite3.connect(database)
    try:
        return dict(conn.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall())
    finally:
        conn.close()


def paused_send(cli, config, issue, handler, *extra: str):
    """``send`` at 10 messages a second, paused from another process once 10 messages arrived: the pause
    command's result, and the send's stdout, stderr and exit status."""
    proc = start_send(config, issue, "--rate", "10", *extra)
    try:
        wait_for(lambda: len(handler.messages) >= 10, proc)
        paused = cli(config, "pause", "1", "--as", "ann@example.org")
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return paused, out, err, proc.returncode


@pytest.mark.sqlite_only  # asserts over the SQLite file directly
def test_pause_a_send_from_a_terminal_then_resume_it(cli, smtp_settings, smtp_server, issue, make_list):
    handler, _ = smtp_server
    emails = make_list("news", 40)
    config = smtp_settings.with_overrides(smtp_connections=1)
    run, out, err, status = paused_send(cli, config, issue, handler)
    assert run.exit_code == 0 and "stops after the batches in flight" in run.stdout
    assert status == 3 and "Send 1 paused" in err and "newsletter resume 1" in err, (out, err)
    paused_at = len(handler.messages)
    assert 10 <= paused_at < 40
    states = ledger_states(config.newsletter_database)
    assert states == {"accepted": paused_at, "queued": 40 - paused_at}  # nothing in flight, nothing in doubt
    run = cli(config, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 1 and "send 1 is paused" in run.stderr  # a plain re-run does not slip past the pause
    run = cli(config, "resume", "1", "--yes", "--as", "ann@example.org")
    assert run.exit_code == 0, run.output
    assert "Resumed send 1." in run.stdout and "Send 1 (done)" in run.stdout
    assert handler.delivered() == {e: 1 for e in emails}
    log = cli(config, "sends", "1", "--log").stdout
    assert [line.split("\t")[1] for line in log.splitlines()] == ["start", "pause", "finish", "resume", "start", "finish"]


@pytest.mark.sqlite_only  # asserts over the SQLite file directly
def test_pause_a_workers_send_then_resume_it(cli, smtp_settings, smtp_server, issue, make_list):
    from newsletter.delivery.plan import SendOptions
    from newsletter.release.controls import pause, resume
    from newsletter.release.schedule import schedule
    from newsletter.release.worker import Worker
    from tests.release.helpers import Clock

    handler, _ = smtp_server
    emails = make_list("news", 40)
    config = smtp_settings.with_overrides(smtp_connections=1)
    clock = Clock(datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    schedule(issue, SendOptions("news", rate=10, at="2026-12-01 08:00", tz="UTC"), config, actor="ann", clock=clock)
    clock.set(datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
    results: list = []
    worker = threading.Thread(target=lambda: results.extend(Worker(config, clock=clock, name="w1").run_once()))
    worker.start()
    wait_until(lambda: len(handler.messages) >= 10, 60, message="the worker never got going",
               abort=lambda: None if worker.is_alive() else "the worker never got going")
    assert "stops after the batches in flight" in pause(1, config, actor="bob", clock=clock)
    worker.join(60)
    [started] = results
    assert started.state == "scheduled"  # back to the workers, waiting for resume
    paused_at = len(handler.messages)
    assert 10 <= paused_at < 40 and ledger_states(config.newsletter_database)["queued"] == 40 - paused_at
    assert Worker(config, clock=clock).run_once() == []  # paused: no worker takes it
    assert "due now, a worker starts it" in resume(1, config, actor="bob", clock=clock).message
    [again] = Worker(config, clock=clock, name="w2").run_once()
    assert again.state == "done"
    assert handler.delivered() == {e: 1 for e in emails}
    log = cli(config, "sends", "1", "--log").stdout
    assert [line.split("\t")[1] for line in log.splitlines()] == ["schedule", "start", "pause", "finish", "resume",
                                                                  "start", "finish"]
    assert "scheduled: paused with" in log


@pytest.mark.sqlite_only  # asserts over the SQLite file directly
def test_resume_goes_on_through_the_backend_the_send_was_going_out_through(cli, smtp_settings, smtp_server, issue,
                                                                           make_list):
    # Found by the harness (seed 1012): `send --backend smtp`, paused, then `resume` where NEWSLETTER_BACKEND is
    # the default (outbox) wrote the rest to the outbox folder and recorded them accepted: nobody received them.
    from pathlib import Path

    handler, _ = smtp_server
    emails = make_list("news", 30)
    config = smtp_settings.with_overrides(smtp_connections=1, newsletter_backend="outbox")
    run, out, err, status = paused_send(cli, config, issue, handler, "--backend", "smtp")
    assert run.exit_code == 0 and status == 3 and "Send 1 paused" in err, (out, err)
    assert len(handler.messages) < 30
    run = cli(config, "resume", "1", "--yes", "--as", "ann@example.org")
    assert run.exit_code == 0 and "Send 1 (done)" in run.stdout, run.output
    assert handler.delivered() == {e: 1 for e in emails}
    assert not list(Path(config.newsletter_outbox).glob("**/*.eml"))


@pytest.mark.sqlite_only  # asserts over the SQLite file directly
def test_a_resumed_send_paused_again_says_so_and_exits_3(cli, smtp_settings, smtp_server, issue, make_list):
    # Found by the harness (seed 2006): `resume` whose run was paused again said "Stopped before the end: run the
    # same command again" and exited 130 (Ctrl-C's status), where `send` says it paused and exits 3.
    import os
    import subprocess
    import sys

    from tests.delivery.fakes import settings_env

    handler, _ = smtp_server
    emails = make_list("news", 40)
    config = smtp_settings.with_overrides(smtp_connections=1)
    first = start_send(config, issue, "--rate", "10")
    resumed: subprocess.Popen[str] | None = None
    try:
        wait_for(lambda: len(handler.messages) >= 10, first)
        assert cli(config, "pause", "1", "--as", "ann@example.org").exit_code == 0
        first.communicate(timeout=60)
        command = [sys.executable, "-m", "newsletter", "resume", "1", "--yes", "--as", "ann@example.org"]
        resumed = subprocess.Popen(command, env={**os.environ, **settings_env(config)}, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        paused_at = len(handler.messages)
        wait_for(lambda: len(handler.messages) >= paused_at + 10, resumed)
        assert cli(config, "pause", "1", "--as", "ann@example.org").exit_code == 0
        out, err = resumed.communicate(timeout=60)
    finally:
        for proc in (first, resumed):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert resumed.returncode == 3, (out, err)
    assert "Resumed send 1." in out and "Send 1 paused" in err and "newsletter resume 1" in err
    assert "Stopped before the end" not in err
    assert cli(config, "resume", "1", "--yes", "--as", "ann@example.org").exit_code == 0
    assert handler.delivered() == {e: 1 for e in emails}


@pytest.mark.sqlite_only  # asserts over the SQLite file directly
def test_resume_continues_a_send_whose_run_was_killed(cli, smtp_settings, smtp_server, issue, make_list):
    # Found by the harness (seed 1015): a run killed (SIGKILL) while sending, then paused and resumed: `resume`
    # said "its run had not stopped yet and goes on", and nothing went on.
    handler, _ = smtp_server
    emails = make_list("news", 40)
    config = smtp_settings.with_overrides(smtp_connections=1)
    proc = start_send(config, issue, "--rate", "10")
    try:
        wait_for(lambda: len(handler.messages) >= 10, proc)
        proc.kill()
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert cli(config, "pause", "1", "--as", "ann@example.org").exit_code == 0
    run = cli(config, "resume", "1", "--yes", "--as", "ann@example.org")
    assert run.exit_code in (0, 3) and "Resumed send 1." in run.stdout and "Send 1 (" in run.stdout, run.output
    states = ledger_states(config.newsletter_database)
    assert "queued" not in states and states.get("in_doubt", 0) <= 1  # at most the message in flight at the kill
    delivered = handler.delivered()
    assert set(delivered.values()) == {1} and set(delivered) <= set(emails)  # nobody twice
    assert states["accepted"] + states.get("in_doubt", 0) == 40 and len(delivered) >= states["accepted"]
