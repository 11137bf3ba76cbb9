"""Send workers: several ``send --worker`` processes share one send on PostgreSQL.

Real CLI processes against a real PostgreSQL and the SendGrid stand-in (with
a provider's latency). One worker is killed with SIGKILL halfway, in the
middle of a request: nobody gets the issue twice, the batch it had in flight
is in doubt, everything else is accepted by the workers that carry on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.delivery.fakes import rows, settings_env
from tests.helpers import wait_until

pytestmark = [pytest.mark.postgresql, pytest.mark.timeout(240)]


@pytest.fixture
def database(postgres_database):
    """Workers are a PostgreSQL feature: these tests run on it alone."""
    return postgres_database


def start_worker(config, issue) -> subprocess.Popen:
    env = {**os.environ, **settings_env(config)}
    return subprocess.Popen(
        [sys.executable, "-m", "newsletter", "send", str(issue), "--list", "news", "--yes", "--worker"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_workers(condition, procs, timeout: float = 120) -> None:
    def ended() -> str | None:
        gone = [p for p in procs if p.poll() is not None]
        return f"a worker ended early: {gone[0].communicate()}" if gone else None

    wait_until(condition, timeout, message="the workers never got there", abort=ended)


@pytest.mark.parametrize("workers", [2, 4])
def test_workers_share_a_send_and_a_killed_one_leaves_only_its_batch_in_doubt(
        workers, sendgrid_settings, sendgrid_server, issue, make_many):
    emails = make_many(3000 * workers)  # three requests of 1,000 for each worker
    sendgrid_server.delay_s = 0.3
    # The first request of the second round hangs (about halfway); the others still have two rounds to go,
    # so they are sending when the killed worker's process is gone and see it.
    sendgrid_server.faults = [None] * workers + ["hang"]
    # A generous lease: a live worker on a loaded machine must not look expired; the killed one is
    # seen gone by its pid at once (same host).
    config = sendgrid_settings.with_overrides(newsletter_lease_seconds=15.0)
    procs = [start_worker(config, issue) for _ in range(workers)]
    try:
        wait_for_workers(sendgrid_server.hung.is_set, procs)
        hung = [int(p["custom_args"]["subscriber_id"]) for p in sendgrid_server.hung_request["personalizations"]]
        (pid,) = {r[0] for r in rows(config.newsletter_database, "SELECT DISTINCT r.pid FROM deliveries d"
                                     " JOIN send_runs r ON r.id = d.run_id WHERE d.subscriber_id = ?", hung[0])}
        (victim,) = [p for p in procs if p.pid == pid]
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=30)  # reaped: its pid is gone from this host now
        sendgrid_server.release.set()
        outputs = {p.pid: p.communicate(timeout=180) for p in procs if p is not victim}
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert victim.returncode == -signal.SIGKILL
    for p in procs:
        if p is not victim:
            out, err = outputs[p.pid]
            assert p.returncode in (0, 3) and "Traceback" not in err, (out, err)  # 3: some recipients in doubt

    assert sendgrid_server.violations == []
    assert sendgrid_server.delivered == {e: 1 for e in emails}  # everyone once; the hung batch was taken, too
    states = dict(rows(config.newsletter_database, "SELECT state, COUNT(*) FROM deliveries GROUP BY state"))
    assert states == {"accepted": len(emails) - len(hung), "in_doubt": len(hung)}
    in_doubt = sorted(r[0] for r in rows(config.newsletter_database,
                                         "SELECT subscriber_id FROM deliveries WHERE state = 'in_doubt'"))
    assert in_doubt == sorted(hung)  # exactly the killed worker's batch in flight
    runs = dict(rows(config.newsletter_database, "SELECT pid, outcome FROM send_runs"))
    assert runs.pop(pid) == "taken-over" and set(runs.values()) == {"finished"} and len(runs) == workers - 1


def test_a_second_send_without_worker_is_refused_while_workers_run(cli, sendgrid_settings, sendgrid_server, issue,
                                                                   make_many):
    emails = make_many(3000)
    sendgrid_server.delay_s = 0.5  # the first worker is still sending when the others come
    proc = start_worker(sendgrid_settings, issue)
    helper = None
    try:
        wait_for_workers(lambda: len(sendgrid_server.requests) >= 1, [proc])
        run = cli(sendgrid_settings, "send", issue, "--list", "news", "--yes")
        assert run.exit_code == 1 and f"is being sent by process {proc.pid}" in run.stderr
        assert "a worker; join it with --worker" in run.stderr
        helper = start_worker(sendgrid_settings, issue)  # another worker joins and sends part of the rest
        for p in (helper, proc):
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, (out, err)
    finally:
        for p in (proc, helper):
            if p is not None and p.poll() is None:
                p.kill()
                p.communicate()
    assert sendgrid_server.delivered == {e: 1 for e in emails}
    database = sendgrid_settings.newsletter_database
    assert dict(rows(database, "SELECT state, COUNT(*) FROM deliveries GROUP BY state")) == {"accepted": 3000}
    assert sorted(r[0] for r in rows(database, "SELECT outcome FROM send_runs")) == ["finished", "finished"]

