"""Scheduling with an injected clock: a send starts at its time and not before, once, unless cancelled."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from newsletter.delivery.plan import SendOptions
from newsletter.release.schedule import schedule
from newsletter.release.worker import Worker
from tests.helpers import wait_until
from tests.release.helpers import edit

# 2026-12-02 09:00 in Berlin (CET, UTC+1) is 08:00 UTC.
AT, ZONE = "2026-12-02 09:00", "Europe/Berlin"
DUE = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def sent(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "outbox").glob("*/*.eml"))


def plan(issue, settings, clock, **options):
    return schedule(issue, SendOptions("news", at=AT, tz=ZONE, **options), settings, actor="ann@example.org", clock=clock)


def test_a_scheduled_send_starts_at_its_time_and_not_before(issue, settings, people, clock, tmp_path, cli):
    people(3)
    done = plan(issue, settings, clock)
    assert (done.route, done.send_id, done.moment.utc) == ("worker", 1, DUE)
    worker = Worker(settings, clock=clock, name="w1")
    clock.set(DUE.replace(minute=0, hour=7, second=59))
    assert worker.run_once() == [] and sent(tmp_path) == []
    clock.set(DUE)
    [started] = worker.run_once()
    assert (started.send_id, started.state) == (1, "done") and len(sent(tmp_path)) == 3
    assert worker.run_once() == []  # started once
    log = cli(settings, "sends", "1", "--log").stdout
    assert [line.split("\t")[1] for line in log.splitlines()] == ["schedule", "start", "finish"]
    assert "w1" in log.splitlines()[1]


def test_the_audience_is_fixed_when_scheduling(issue, settings, people, clock, tmp_path):
    people(2)
    plan(issue, settings, clock)
    people(1, start=10)  # joins after scheduling: gets the next issue
    clock.set(DUE)
    Worker(settings, clock=clock).run_once()
    assert len(sent(tmp_path)) == 2


def test_two_workers_racing_start_it_once(issue, settings, people, clock, tmp_path, cli):
    emails = people(5)
    plan(issue, settings, clock)
    clock.set(DUE)
    barrier = threading.Barrier(4)
    results: list = []

    def work(name: str) -> None:
        worker = Worker(settings, clock=clock, name=name)
        barrier.wait()
        results.extend(worker.run_once())

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [(r.send_id, r.state) for r in results] == [(1, "done")]
    assert len(sent(tmp_path)) == len(emails)
    log = cli(settings, "sends", "1", "--log").stdout
    assert sum(line.split("\t")[1] == "start" for line in log.splitlines()) == 1


def test_claim_due_hands_each_send_to_exactly_one_caller(settings, clock):
    from newsletter.store import connect
    from newsletter.store import releases as store

    conn = connect(settings.newsletter_database)
    for send_id in range(1, 6):
        store.save(conn, send_id, now="2026-11-30T12:00:00Z", slug="s", list_name="news", issue_path="/x",
                   mode="worker", state="scheduled", run_at="2026-12-02T08:00:00Z")
    store.set_paused(conn, 5, paused=True, now="2026-11-30T12:00:00Z")
    conn.close()
    barrier = threading.Barrier(8)
    claimed: list[int] = []

    def claim() -> None:
        own = connect(settings.newsletter_database)
        barrier.wait()
        while (row := store.claim_due(own, "2026-12-02T08:00:00Z", threading.current_thread().name)) is not None:
            claimed.append(row["send_id"])
        own.close()

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(claimed) == [1, 2, 3, 4]  # each once; the paused one left alone


def test_a_send_cancelled_before_its_time_never_sends(cli, issue, settings, people, clock, tmp_path):
    people(3)
    done = plan(issue, settings, clock)
    run = cli(settings, "cancel", done.send_id, "--as", "bob@example.org")
    assert run.exit_code == 0 and "Cancelled send 1" in run.stdout and "nothing more is sent" in run.stdout
    clock.set(DUE.replace(hour=23))
    assert Worker(settings, clock=clock).run_once() == []
    assert sent(tmp_path) == []
    listed = cli(settings, "sends").stdout
    assert "\tcancelled 2026-12-02 09:00 CET\t" in listed
    assert cli(settings, "cancel", "1").stdout.startswith("Send 1 was already cancelled")
    # The issue can be scheduled again, with a new audience.
    assert plan(issue, settings, clock.__class__(datetime(2026, 11, 30, tzinfo=UTC))).send_id is not None


def test_daylight_saving_gaps_and_overlaps_are_refused(cli, issue, settings, people):
    people(1)
    run = cli(settings, "send", issue, "--list", "news", "--yes", "--at", "2035-03-25 02:30", "--tz", ZONE)
    assert run.exit_code == 2 and "2035-03-25 02:30 does not exist in Europe/Berlin" in run.stderr
    run = cli(settings, "send", issue, "--list", "news", "--yes", "--at", "2035-10-28 02:30", "--tz", ZONE)
    assert run.exit_code == 2 and "happens twice in Europe/Berlin" in run.stderr
    run = cli(settings, "send", issue, "--list", "news", "--yes", "--at", "2035-10-28 09:00")
    assert run.exit_code == 2 and "a time zone is needed" in run.stderr
    run = cli(settings, "send", issue, "--list", "news", "--yes", "--at", "2035-10-28 09:00", "--tz", "Nowhere/Land")
    assert run.exit_code == 2 and "unknown time zone 'Nowhere/Land'" in run.stderr
    assert "No sends yet." in cli(settings, "sends").stdout


def test_sends_shows_the_time_in_the_teams_zone(cli, issue, settings, people, clock):
    people(1)
    plan(issue, settings, clock)
    team = settings.with_overrides(newsletter_timezone="America/New_York")
    listing = cli(team, "sends").stdout.splitlines()
    assert listing[0].startswith("ID\tISSUE\t") and "\tscheduled 2026-12-02 03:00 EST\t" in listing[1]
    assert listing[1].endswith((" EST", " EDT"))  # when it was created, in the team's zone too
    [row] = __import__("json").loads(cli(team, "sends", "--json").stdout)
    assert (row["status"], row["scheduled_for"], row["zone"]) == ("scheduled", "2026-12-02 03:00 EST", "America/New_York")


def test_a_scheduled_send_blocks_a_send_now_until_cancelled(cli, issue, settings, people, clock, tmp_path):
    people(1)
    plan(issue, settings, clock)
    run = cli(settings, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 1 and "send 1 is scheduled for 2026-12-02 09:00 CET" in run.stderr
    assert sent(tmp_path) == []


def test_approvals_are_checked_when_scheduling_and_again_at_start(cli, issue, settings, people, clock, tmp_path):
    gated = settings.with_overrides(newsletter_required_approvals=1)
    people(2)
    with pytest.raises(Exception, match="needs 1 approval"):
        plan(issue, gated, clock)
    assert cli(gated, "approve", issue, "--list", "news", "--as", "ann@example.org").exit_code == 0
    plan(issue, gated, clock)
    edit(issue, "Hello %%name%%.", "Hello %%name%%, corrected.")
    clock.set(DUE)
    [started] = Worker(gated, clock=clock).run_once()
    assert started.state == "refused" and "the issue changed since send 1 was scheduled: HTML (+" in started.detail
    assert sent(tmp_path) == []
    listed = cli(gated, "sends", "--json").stdout
    assert '"status": "refused"' in listed
    log = cli(gated, "sends", "1", "--log").stdout
    assert [line.split("\t")[1] for line in log.splitlines()] == ["approve", "schedule", "refuse"]


def test_a_paused_scheduled_send_waits_for_resume(cli, issue, settings, people, clock, tmp_path):
    people(2)
    plan(issue, settings, clock)
    assert "nothing more goes out" in cli(settings, "pause", "1", "--as", "ann@example.org").stdout
    clock.set(DUE)
    assert Worker(settings, clock=clock).run_once() == [] and sent(tmp_path) == []
    assert "a worker starts it" in cli(settings, "resume", "1", "--as", "ann@example.org").stdout
    [started] = Worker(settings, clock=clock).run_once()
    assert started.state == "done" and len(sent(tmp_path)) == 2


def test_worker_once_from_the_command_line_starts_what_is_due(cli, issue, settings, people, tmp_path):
    from tests.release.helpers import Clock

    people(2)
    past = Clock(datetime(2020, 6, 1, 6, 0, tzinfo=UTC))  # scheduled "then", due by now
    schedule(issue, SendOptions("news", at="2020-06-01 09:00", tz="UTC"), settings, actor="ann", clock=past)
    run = cli(settings, "worker", "--once")
    assert run.exit_code == 0 and "Started 1 send(s)." in run.stdout and "send 1 done" in run.stderr
    assert len(sent(tmp_path)) == 2
    assert cli(settings, "worker", "--once").stdout.strip() == "Nothing due."


def test_a_long_running_worker_starts_sends_until_stopped(issue, settings, people, clock, tmp_path):
    people(2)
    plan(issue, settings, clock)
    clock.set(DUE)
    stop = threading.Event()
    worker = threading.Thread(target=Worker(settings.with_overrides(newsletter_worker_poll_seconds=0.05),
                                            clock=clock).run, args=(stop,))
    worker.start()
    wait_until(lambda: len(sent(tmp_path)) >= 2, 60, message="the worker sent nothing in time",
               abort=lambda: None if worker.is_alive() else "the worker ended")
    stop.set()
    worker.join(30)
    assert not worker.is_alive() and len(sent(tmp_path)) == 2


def test_cancelling_the_scheduled_rest_of_a_partial_send_keeps_what_went_out(cli, issue, settings, people, clock,
                                                                            tmp_path):
    from newsletter.store import connect, transaction

    people(5)
    config = settings
    assert cli(config, "send", issue, "--list", "news", "--yes").exit_code == 0
    conn = connect(config.newsletter_database)  # pretend the last two were never reached
    with transaction(conn):
        conn.execute("UPDATE deliveries SET state = 'queued', attempts = 0 WHERE subscriber_id > 3")
    conn.close()
    done = plan(issue, config, clock)
    assert done.send_id == 1  # the same send: its ledger stays
    assert cli(config, "cancel", "1").exit_code == 0
    listed = __import__("json").loads(cli(config, "sends", "--json").stdout)
    assert [(r["id"], r["accepted"], r["pending"], r["status"]) for r in listed] == [(1, 3, 2, "cancelled")]


def test_the_worker_sends_through_the_backend_the_send_was_scheduled_with(issue, settings, people, clock, tmp_path):
    """Scheduled with the outbox, started by a worker whose own default is SMTP (to nowhere): it goes out
    through the outbox, as `resume` continues a send through its own backend."""
    people(2)
    plan(issue, settings, clock)
    clock.set(DUE)
    elsewhere = settings.with_overrides(newsletter_backend="smtp", smtp_host="127.0.0.1", smtp_port=9)
    [started] = Worker(elsewhere, clock=clock).run_once()
    assert started.state == "done" and len(sent(tmp_path)) == 2
