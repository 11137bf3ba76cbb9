"""Scheduled sends handed to SendGrid (send_at + batch_id, opt-in) and cancelled through its scheduled-sends API.

The stand-in holds scheduled messages until its clock reaches ``send_at``
(``release_due``), as SendGrid does; both it and the library use the test's clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from newsletter.delivery.plan import SendOptions
from newsletter.errors import DeliveryError
from newsletter.release import ReleaseRefused
from newsletter.release.controls import cancel
from newsletter.release.schedule import schedule
from tests.release.helpers import Clock

# `newsletter sends` runs on the real clock, so the scheduled day lies ahead of it whenever the tests run.
YEAR = datetime.now(UTC).year + 1
DUE = datetime(YEAR, 12, 2, 8, 0, tzinfo=UTC)  # YEAR-12-02 09:00 in Berlin (CET)


@pytest.fixture
def sendgrid_settings(sendgrid_settings):
    """These tests hand sends over ahead of time: the opt-in NEWSLETTER_SENDGRID_SEND_AT=on."""
    return sendgrid_settings.with_overrides(newsletter_sendgrid_send_at=True)


@pytest.fixture
def clock(sendgrid_server) -> Clock:
    """One clock for the library and the stand-in, starting 44 hours before DUE."""
    found = Clock(DUE - timedelta(hours=44))
    sendgrid_server.clock = lambda: found().timestamp()
    return found


def hand_over(issue, config, clock, at=f"{YEAR}-12-02 09:00"):
    return schedule(issue, SendOptions("news", at=at, tz="Europe/Berlin"), config, actor="ann@example.org", clock=clock)


def test_batches_go_to_sendgrid_with_send_at_and_are_released_at_the_minute(
        cli, sendgrid_settings, sendgrid_server, issue, make_list, clock):
    emails = make_list("news", 1500)
    done = hand_over(issue, sendgrid_settings, clock)
    assert done.route == "sendgrid" and done.batch_id in sendgrid_server.batches and done.report.ok
    requests = sendgrid_server.requests
    assert len(requests) == 2 and {(r["send_at"], r["batch_id"]) for r in requests} == {(int(DUE.timestamp()), done.batch_id)}
    assert not sendgrid_server.delivered and len(sendgrid_server.scheduled) == 1500
    listed = cli(sendgrid_settings, "sends").stdout
    assert f"\thanded-over {YEAR}-12-02 09:00 CET\t" in listed
    clock.set(DUE - timedelta(seconds=1))
    assert sendgrid_server.release_due() == 0
    clock.set(DUE)
    assert sendgrid_server.release_due() == 1500
    assert sendgrid_server.delivered == {e: 1 for e in emails} and sendgrid_server.violations == []


def test_a_cancelled_batch_is_never_released(cli, sendgrid_settings, sendgrid_server, issue, make_list, clock):
    make_list("news", 20)
    done = hand_over(issue, sendgrid_settings, clock)
    clock.set(DUE - timedelta(minutes=11))
    message = cancel(done.send_id, sendgrid_settings, actor="bob@example.org", clock=clock)
    assert "SendGrid discards its batch" in message and sendgrid_server.batches[done.batch_id] == "cancel"
    clock.set(DUE + timedelta(hours=80))
    assert sendgrid_server.release_due() == 0
    assert not sendgrid_server.delivered and sum(sendgrid_server.discarded.values()) == 20
    assert f"\tcancelled {YEAR}-12-02 09:00 CET\t" in cli(sendgrid_settings, "sends").stdout
    log = cli(sendgrid_settings, "sends", str(done.send_id), "--log").stdout
    assert [line.split("\t")[1] for line in log.splitlines()] == ["schedule", "start", "finish", "cancel"]


def test_too_late_to_cancel_says_so_and_cancels_nothing(sendgrid_settings, sendgrid_server, issue, make_list, clock):
    emails = make_list("news", 5)
    done = hand_over(issue, sendgrid_settings, clock)
    clock.set(DUE - timedelta(minutes=9))
    with pytest.raises(ReleaseRefused, match="too late to cancel.*SendGrid cancels only until 10 minutes before "
                                             rf"\({YEAR}-12-02 08:50 CET\); nothing was cancelled"):
        cancel(done.send_id, sendgrid_settings, actor="bob@example.org", clock=clock)
    assert sendgrid_server.batches[done.batch_id] == ""
    # Our clock says there is time, SendGrid's says there is not: SendGrid's answer wins, nothing changes.
    clock.set(DUE - timedelta(minutes=11))
    sendgrid_server.clock = lambda: (DUE - timedelta(minutes=9)).timestamp()
    with pytest.raises(DeliveryError, match="SendGrid refused to cancel the scheduled send.*10 minutes"):
        cancel(done.send_id, sendgrid_settings, actor="bob@example.org", clock=clock)
    sendgrid_server.clock = lambda: DUE.timestamp()
    assert sendgrid_server.release_due() == 5 and sendgrid_server.delivered == {e: 1 for e in emails}


def test_beyond_72_hours_or_turned_off_a_worker_starts_it(sendgrid_settings, sendgrid_server, issue, make_list, clock):
    make_list("news", 2)
    far = hand_over(issue, sendgrid_settings, clock, at=f"{YEAR}-12-04 09:00")  # 92 hours ahead
    assert far.route == "worker" and sendgrid_server.requests == []
    cancel(far.send_id, sendgrid_settings, actor="ann@example.org", clock=clock)
    off = sendgrid_settings.with_overrides(newsletter_sendgrid_send_at=False)
    assert hand_over(issue, off, clock).route == "worker" and sendgrid_server.requests == []


def test_the_stand_in_refuses_what_sendgrid_refuses(sendgrid_settings, sendgrid_server, issue, make_list, clock):
    from newsletter.compose import compose_checked
    from newsletter.delivery.base import Mailing, Recipient
    from newsletter.delivery.registry import make_backend
    from newsletter.release.sendgrid_batches import BatchAPI

    api = BatchAPI(sendgrid_settings)
    batch = api.create_batch()
    mailing = Mailing(compose_checked(issue, sendgrid_settings), 1, send_at=DUE + timedelta(hours=72), batch_id=batch)
    backend = make_backend("sendgrid", sendgrid_settings, mailing)
    with backend:
        result = backend.send_batch([Recipient(1, "a@example.org")])
    assert result.outcomes[0].state == "failed" and "more than 72 hours" in result.outcomes[0].error
    assert sendgrid_server.violations == ["send_at is more than 72 hours ahead"]
    with pytest.raises(DeliveryError, match="invalid batch id"):
        api.cancel("no-such-batch")


def test_after_send_at_sends_shows_the_ledgers_status(sendgrid_settings, sendgrid_server, issue, make_list, clock):
    from newsletter.release.controls import list_sends

    make_list("news", 2)
    hand_over(issue, sendgrid_settings, clock)
    assert list_sends(sendgrid_settings, clock=clock)[0]["status"] == "handed-over"
    clock.set(DUE)
    [row] = list_sends(sendgrid_settings, clock=clock)
    assert (row["status"], row["scheduled_for"]) == ("done", f"{YEAR}-12-02 09:00 CET")
