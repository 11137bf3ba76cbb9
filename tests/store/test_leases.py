"""Run leases judged on the database's clock, and a live process of this host never taken over (issue 20, point 5).

A host's clock may be off by more than a lease: the caller's clock is shifted
here (``time.time``, the clock every Python caller reads) while the database
keeps the true time, as a PostgreSQL server does for hosts that drift, and
SQLite (it reads the system clock itself, not Python's).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from newsletter.errors import BusyError
from newsletter.store import runs, sends, transaction
from newsletter.store import subscribers as store
from newsletter.store.runs import Process
from newsletter.store.segments import Audience
from newsletter.store.sends import SendVersion

SKEW_S = 120.0  # more than the lease


@pytest.fixture
def send_id(conn):
    with transaction(conn):
        list_id = store.ensure_list(conn, "news")
        for i in range(3):
            sid, _, _ = store.upsert_subscriber(conn, f"s{i}@example.org", f"S {i}", {})
            store.add_membership(conn, list_id, sid)
    send, _, _ = sends.create_send(conn, "x", list_id, Audience(), SendVersion("abc", "S", ["https://a"], "outbox"))
    return send


@pytest.fixture
def shift_clock(monkeypatch):
    """``shift_clock(seconds)``: from now on this process's clock reads that much ahead (behind if negative)."""
    real = time.time

    def shift(seconds: float) -> None:
        monkeypatch.setattr(time, "time", lambda: real() + seconds)

    return shift


def other_host(owner: str) -> Process:
    return Process(owner, f"host-{owner}", 4242, "")


def test_a_caller_whose_clock_runs_ahead_does_not_end_a_live_run_of_another_host(conn, send_id, shift_clock):
    first, _, _ = runs.start(conn, send_id, other_host("a"), lease_s=60, is_gone=lambda run: False)
    assert first
    shift_clock(SKEW_S)  # host b's clock is two minutes ahead: by it, a's lease ran out a minute ago
    second, _, holder = runs.start(conn, send_id, other_host("b"), lease_s=60, is_gone=lambda run: False)
    assert second == 0 and holder is not None and holder.id == first
    assert [r.id for r in runs.open_runs(conn, send_id)] == [first]
    assert runs.renew(conn, first, 60) is True  # a's run was not ended


def test_a_run_renewing_with_a_clock_behind_keeps_its_lease(conn, send_id, shift_clock):
    shift_clock(-SKEW_S)  # host a's clock is two minutes behind: its renewals must not land in the past
    first, _, _ = runs.start(conn, send_id, other_host("a"), lease_s=60, is_gone=lambda run: False)
    assert runs.renew(conn, first, 60) is True
    shift_clock(0)
    second, _, holder = runs.start(conn, send_id, other_host("b"), lease_s=60, is_gone=lambda run: False)
    assert second == 0 and holder is not None and holder.id == first


def test_an_expired_lease_of_another_host_is_still_taken_over(conn, send_id):
    first, _, _ = runs.start(conn, send_id, other_host("a"), lease_s=-1, is_gone=lambda run: False)
    second, _, holder = runs.start(conn, send_id, other_host("b"), lease_s=60, is_gone=lambda run: False)
    assert second and holder is None and runs.renew(conn, first, 60) is False


@pytest.fixture
def other_process():
    """Another live process on this host (it sleeps until the test ends)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield child.pid
    child.kill()
    child.wait()


def test_a_run_of_this_host_whose_process_lives_is_never_taken_over(conn, database, send_id, other_process):
    from newsletter.delivery.lease import HOST, Lease, live_runs, process_started

    # That process holds the send; its lease has run out (it stalled, was stopped, or its clock jumped).
    pid = other_process
    held, _, _ = runs.start(conn, send_id, Process("stalled", HOST, pid, process_started(pid)), lease_s=-1,
                            is_gone=lambda run: False)
    assert [r.id for r in live_runs(conn, send_id)] == [held]
    with pytest.raises(BusyError, match=f"is being sent by process {pid}"):
        Lease(conn, database, send_id, seconds=60, timeout=5).acquire()
    assert [r.id for r in runs.open_runs(conn, send_id)] == [held]


def test_a_run_of_this_process_that_it_no_longer_holds_is_judged_by_its_lease(conn, database, send_id):
    """A run this process could not close (its end failed to be written) is not kept alive by its pid."""
    from newsletter.delivery.lease import HOST, Lease, live_runs, process_started

    pid = os.getpid()
    runs.start(conn, send_id, Process("unclosed", HOST, pid, process_started(pid)), lease_s=-1,
               is_gone=lambda run: False)
    assert live_runs(conn, send_id) == []
    lease = Lease(conn, database, send_id, seconds=60, timeout=5).acquire()
    try:
        assert [r.id for r in live_runs(conn, send_id)] == [lease.run_id]  # this one it holds: alive
    finally:
        lease.end("finished")


def test_an_expired_run_whose_pid_was_reused_is_taken_over(conn, database, send_id):
    from newsletter.delivery.lease import HOST, Lease, live_runs

    pid = os.getpid()  # the pid lives, but it is another process than the one that started the run
    runs.start(conn, send_id, Process("old", HOST, pid, "1"), lease_s=-1, is_gone=lambda run: False)
    assert live_runs(conn, send_id) == []
    lease = Lease(conn, database, send_id, seconds=60, timeout=5).acquire()
    try:
        assert [r.id for r in runs.open_runs(conn, send_id)] == [lease.run_id]
    finally:
        lease.end("finished")
