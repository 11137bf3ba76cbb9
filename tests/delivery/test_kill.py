"""A send killed with SIGKILL at several points, then run again: nobody gets it twice.

The real CLI runs in a subprocess against the local providers; the providers
stall at a chosen moment so the kill lands exactly there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.delivery.fakes import send, settings_env
from tests.helpers import wait_until

pytestmark = pytest.mark.timeout(180)


def start_send(config, issue, *extra: str) -> subprocess.Popen:
    env = {**os.environ, **settings_env(config)}
    return subprocess.Popen(
        [sys.executable, "-m", "newsletter", "send", str(issue), "--list", "news", "--yes", *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def wait_for(condition, proc: subprocess.Popen, timeout: float = 60) -> None:
    wait_until(condition, timeout, message="the send never reached the kill point",
               abort=lambda: f"send ended early: {proc.communicate()}" if proc.poll() is not None else None)


def kill_send_when(condition, config, issue, *extra: str) -> None:
    """Start `newsletter send ISSUE --list news --yes EXTRA` and SIGKILL it once ``condition()`` holds."""
    proc = start_send(config, issue, *extra)
    try:
        wait_for(condition, proc)
    finally:
        kill(proc)


@pytest.mark.parametrize("stall", ["hang", "hang-before"])
def test_kill_during_a_sendgrid_request(cli, sendgrid_settings, sendgrid_server, issue, make_list, stall):
    emails = make_list("news", 2500)
    sendgrid_server.faults = [None, stall]  # the second request (recipients 1001..2000) stalls
    kill_send_when(sendgrid_server.hung.is_set, sendgrid_settings, issue)
    sendgrid_server.release.set()

    run = cli(sendgrid_settings, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 3  # incomplete: some recipients are in doubt
    assert "1500 accepted, 0 failed, 1000 in doubt" in run.stdout and "this run: 500 accepted" in run.stdout
    assert "may or may not have received it" in run.stderr and "sub1001@example.org" in run.stderr
    assert max(sendgrid_server.delivered.values()) == 1

    # The user decides: the stand-in knows whether they really arrived.
    decision = "--skip-in-doubt" if stall == "hang" else "--resend-in-doubt"
    run = cli(sendgrid_settings, "send", issue, "--list", "news", "--yes", decision)
    assert run.exit_code == 0, run.output
    assert sendgrid_server.delivered == {e: 1 for e in emails}
    assert sendgrid_server.violations == []


def test_kill_while_the_smtp_server_stalls_and_between_batches(smtp_settings, smtp_server, issue, make_list):
    handler, _ = smtp_server
    emails = make_list("news", 30)
    config = smtp_settings.with_overrides(smtp_connections=1)

    # 1. Between batches: --rate 10 sends batches of 10 and pauses.
    kill_send_when(lambda: len(handler.messages) >= 10, config, issue, "--rate", "10")
    # 2. In the middle of a batch: the server stalls on a DATA reply.
    handler.hang_after = len(handler.messages) + 3
    kill_send_when(handler.hung.is_set, config, issue)
    handler.release.set()
    handler.hang_after = None

    report = send(issue, config)
    delivered = handler.delivered()
    assert max(delivered.values()) == 1  # nobody twice
    # Everyone got it, or is reported in doubt (nobody silently missing).
    in_doubt = {e for e in emails if e not in delivered}
    assert report.totals.in_doubt >= len(in_doubt) > 0
    assert set(report.in_doubt_sample) >= in_doubt
    report = send(issue, config, skip_in_doubt=True)
    assert report.status == "done" and max(handler.delivered().values()) == 1


def test_sends_right_after_a_kill_counts_claimed_rows_as_the_next_run_will(
        cli, settings, sendgrid_server, smtp_server, issue, make_list):
    """Killed while re-sending rows in doubt, the rows it had only claimed are still in doubt, not pending."""
    import json

    from tests.delivery.fakes import API_KEY

    handler, port = smtp_server
    make_list("news", 3)
    config = settings.with_overrides(sendgrid_api_key=API_KEY, sendgrid_api_url=sendgrid_server.url,
                                     smtp_host="127.0.0.1", smtp_port=port, smtp_connections=1)
    sendgrid_server.faults = ["500"]  # all three in doubt
    assert cli(config, "send", issue, "--list", "news", "--yes", "--backend", "sendgrid").exit_code == 3

    handler.hang_after = 0  # the first message over SMTP stalls: the other two are only claimed
    kill_send_when(handler.hung.is_set, config.with_overrides(newsletter_backend="smtp"), issue, "--resend-in-doubt")
    handler.release.set()
    run = cli(config, "sends", "--json")
    row = json.loads(run.stdout)[0]
    assert (row["status"], row["in_doubt"], row["pending"]) == ("partial", 3, 0)
    run = cli(config, "send", issue, "--list", "news", "--dry-run")
    assert "Recipients: 0 to send" in run.stdout and "In doubt:   3 from an earlier run" in run.stdout


def test_a_kill_leaves_in_doubt_only_the_message_on_the_wire_not_one_the_server_refused(
        cli, smtp_settings, smtp_server, issue, make_list):
    """A 4xx at RCPT proves the message did not go out: killed later in the same batch, it is pending again."""
    import json

    handler, _ = smtp_server
    make_list("news", 3)
    config = smtp_settings.with_overrides(smtp_connections=1)
    handler.refuse = {"sub1@example.org": "451 4.7.1 greylisted"}
    handler.hang_after = 0  # sub1 is refused at RCPT; sub2's DATA stalls
    kill_send_when(handler.hung.is_set, config, issue)
    handler.release.set()
    row = json.loads(cli(config, "sends", "--json").stdout)[0]
    assert (row["in_doubt"], row["pending"]) == (1, 2)  # sub2 only; sub1 and sub3 were never handed over
