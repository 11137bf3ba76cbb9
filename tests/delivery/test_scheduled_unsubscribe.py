"""Whoever leaves between scheduling a SendGrid send and its time does not get it (issue 20, point 1).

A scheduled SendGrid send is handed over at its time, by the worker: the
batches are claimed then, and whoever unsubscribed, bounced or reported spam
since is suppressed. Proved through the stand-in, which holds any message
sent with ``send_at`` until its clock reaches that time and then delivers it
(as SendGrid does, whoever left meanwhile).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from newsletter.delivery.plan import SendOptions
from newsletter.release.schedule import schedule
from newsletter.release.worker import Worker
from tests.delivery.fakes import rows
from tests.release.helpers import Clock

YEAR = datetime.now(UTC).year + 1
DUE = datetime(YEAR, 12, 2, 8, 0, tzinfo=UTC)  # YEAR-12-02 09:00 in Berlin


@pytest.fixture
def clock(sendgrid_server) -> Clock:
    """One clock for the library and the stand-in, starting 44 hours before DUE (inside SendGrid's window)."""
    found = Clock(DUE - timedelta(hours=44))
    sendgrid_server.clock = lambda: found().timestamp()
    return found


def leave(database: str, email: str, how: str) -> None:
    """``email`` leaves as the server records it: a one-click unsubscribe, a bounce, a spam report."""
    from newsletter.store import connect, transaction
    from newsletter.store import subscribers as store
    from newsletter.tracking import provider_events

    conn = connect(database)
    try:
        person = store.find_subscriber(conn, email)
        assert person is not None
        if how == "unsubscribed":
            provider_events.unsubscribe(conn, person.id, 0)  # what the one-click route does
        else:
            with transaction(conn):
                store.set_status(conn, person.id, how, "provider event")
    finally:
        conn.close()


def test_whoever_leaves_before_the_time_of_a_scheduled_sendgrid_send_does_not_get_it(
        cli, sendgrid_settings, sendgrid_server, issue, make_list, clock):
    emails = make_list("news", 30)
    done = schedule(issue, SendOptions("news", at=f"{YEAR}-12-02 09:00", tz="Europe/Berlin"), sendgrid_settings,
                    actor="ann@example.org", clock=clock)
    gone = {"sub7@example.org": "unsubscribed", "sub8@example.org": "bounced", "sub9@example.org": "complained"}
    clock.set(DUE - timedelta(minutes=5))  # after scheduling, before the time (inside SendGrid's last 10 minutes)
    for email, how in gone.items():
        leave(sendgrid_settings.newsletter_database, email, how)
    sendgrid_server.release_due()

    clock.set(DUE)
    started = Worker(sendgrid_settings, clock=clock).run_once()
    sendgrid_server.release_due()  # anything SendGrid held for this minute goes out now
    clock.set(DUE + timedelta(days=3))
    sendgrid_server.release_due()

    assert sendgrid_server.delivered == {e: 1 for e in emails if e not in gone}
    assert [s.state for s in started] == ["done"], started
    assert not sendgrid_server.scheduled and sendgrid_server.violations == []
    # The ledger, `sends` and `stats` say the same: 27 accepted, the 3 who left suppressed.
    states = dict(rows(sendgrid_settings.newsletter_database,
                       "SELECT p.email, d.state FROM deliveries d JOIN subscribers p ON p.id = d.subscriber_id"
                       " WHERE d.send_id = ?", done.send_id))
    assert {e for e, s in states.items() if s == "suppressed"} == set(gone)
    assert {e for e, s in states.items() if s == "accepted"} == set(emails) - set(gone)
    [listed] = [r for r in json.loads(cli(sendgrid_settings, "sends", "--json").stdout) if r["id"] == done.send_id]
    assert (listed["accepted"], listed["suppressed"], listed["in_doubt"], listed["pending"]) == (27, 3, 0, 0)
    [figures] = json.loads(cli(sendgrid_settings, "stats", "--json").stdout)
    assert (figures["recipients"], figures["accepted"]) == (30, 27)


@pytest.mark.sqlite_only  # what `send --at` says does not depend on the database
def test_send_at_says_which_way_a_sendgrid_send_goes_and_what_the_opt_in_gives_up(
        cli, sendgrid_settings, sendgrid_server, issue, make_list):
    from zoneinfo import ZoneInfo

    make_list("news", 3)
    at = (datetime.now(ZoneInfo("Europe/Berlin")) + timedelta(hours=24)).strftime("%Y-%m-%d %H:%M")
    args = ("send", issue, "--list", "news", "--at", at, "--tz", "Europe/Berlin", "--yes")
    run = cli(sendgrid_settings, *args)
    assert run.exit_code == 0 and "`newsletter worker` starts it then" in run.stdout
    assert sendgrid_server.requests == []  # nothing handed over ahead of the time
    assert cli(sendgrid_settings, "cancel", "1").exit_code == 0
    opted_in = sendgrid_settings.with_overrides(newsletter_sendgrid_send_at=True)
    run = cli(opted_in, *args)
    assert run.exit_code == 0, run.output
    assert "SendGrid gets the batches now and releases them then, even to whoever leaves before then" in run.stdout
    assert len(sendgrid_server.requests) == 1 and sendgrid_server.requests[0]["send_at"] > 0
