"""The run loop (``newsletter/delivery/run.py``): defects the fault-injection harness found, one test each."""

from __future__ import annotations

import pytest

from newsletter.delivery import sendgrid as sg
from newsletter.store.runs import Process
from tests.delivery.fakes import rows, send


@pytest.fixture(autouse=True)
def no_real_waiting(monkeypatch):
    monkeypatch.setattr(sg, "_sleep", lambda s: None)


def test_recipients_accepted_in_the_end_of_run_retry_are_recorded_as_accepted(sendgrid_settings, sendgrid_server,
                                                                               issue, make_list):
    """A request refused with 429 until the backend gives up is retried at the end of the run;
    what the retry's answer says is what the ledger records (it once stayed 'sending', then in doubt)."""
    emails = make_list("news", 3)
    sendgrid_server.faults = ["429"] * sg.MAX_ATTEMPTS
    report = send(issue, sendgrid_settings, retry_delays=(0.0,))
    assert sendgrid_server.delivered == {e: 1 for e in emails}
    assert (report.accepted, report.failed, report.in_doubt) == (3, 0, 0)
    assert (report.totals.accepted, report.totals.in_doubt, report.status) == (3, 0, "done")


def test_a_message_refused_again_in_the_end_of_run_retry_is_failed_not_in_doubt(smtp_settings, smtp_server, issue,
                                                                                make_list):
    """An SMTP server answering 451 after DATA every time never took the message: failed (temporary), not in doubt."""
    handler, _ = smtp_server
    make_list("news", 2)
    handler.refuse_data = {"sub2@example.org": ["451 4.7.1 try later"] * 3}
    report = send(issue, smtp_settings, retry_delays=(0.0, 0.0))
    assert handler.delivered() == {"sub1@example.org": 1}
    assert (report.totals.accepted, report.totals.failed, report.totals.in_doubt) == (1, 1, 0)
    assert report.failures == [("sub2@example.org", "temporary: message refused: 451 4.7.1 try later")]


def test_a_resend_refused_for_good_leaves_the_recipient_in_doubt_not_failed(sendgrid_settings, sendgrid_server, issue,
                                                                             make_list):
    """The first copy may have arrived: a 400 to the re-send does not make it 'failed' (which --retry-failed
    would send once more, without anyone choosing to risk a duplicate)."""
    emails = make_list("news", 2)
    sendgrid_server.faults = ["drop-after"]  # taken, then the connection drops: in doubt
    assert send(issue, sendgrid_settings).totals.in_doubt == 2
    sendgrid_server.faults = ["400"]
    report = send(issue, sendgrid_settings, resend_in_doubt=True)
    assert (report.totals.failed, report.totals.in_doubt) == (0, 2)
    report = send(issue, sendgrid_settings, retry_failed=True)
    assert report.accepted == 0 and sendgrid_server.delivered == {e: 1 for e in emails}


def test_a_run_taken_over_between_batches_claims_nothing_more(sendgrid_settings, sendgrid_server, issue, make_list,
                                                              monkeypatch):
    """A run stalled past its lease (here: between two batches) and taken over by another must not go on
    claiming and sending when it resumes: it stops at once, before its heartbeat happens to notice."""
    from newsletter.delivery.lease import HOST
    from newsletter.delivery.plan import Controls, SendOptions
    from newsletter.delivery.send import send_issue
    from newsletter.errors import DeliveryError
    from newsletter.store import connect, runs

    monkeypatch.setattr(sg.SendGridBackend, "max_batch", 2)
    emails = make_list("news", 4)
    database = sendgrid_settings.newsletter_database

    def take_over_after_the_first_batch(done: int, total: int, counts: dict[str, int]) -> None:
        if done == 2:  # another run starts meanwhile and takes the send over (this one looks gone)
            conn = connect(database)
            runs.start(conn, 1, Process("other", HOST, 1, ""), lease_s=60,
                       is_gone=lambda run: True)
            conn.close()

    with pytest.raises(DeliveryError, match="lost its hold"):
        send_issue(issue, SendOptions("news"), sendgrid_settings,
                   controls=Controls(progress=take_over_after_the_first_batch))
    assert sendgrid_server.delivered == {e: 1 for e in emails[:2]}  # the second batch is the other run's


def test_a_run_taken_over_during_its_last_request_does_not_end_as_if_it_had_sent(sendgrid_settings, sendgrid_server,
                                                                                  issue, make_list):
    """Taken over while its end-of-run retry was in flight, the run ends with 'lost its hold', not with a summary
    counting as accepted what the ledger (rightly) left in doubt."""
    from newsletter.delivery.lease import HOST
    from newsletter.errors import DeliveryError
    from newsletter.store import connect, runs

    emails = make_list("news", 2)
    sendgrid_server.faults = ["429"] * sg.MAX_ATTEMPTS  # refused for now: retried at the end of the run

    def take_over(stage: str, body: dict) -> None:
        if stage == "accepted":  # the retry's request: another run takes the send over meanwhile
            conn = connect(sendgrid_settings.newsletter_database)
            runs.start(conn, 1, Process("other", HOST, 1, ""), lease_s=60, is_gone=lambda run: True)
            conn.close()

    sendgrid_server.tap = take_over
    with pytest.raises(DeliveryError, match="lost its hold"):
        send(issue, sendgrid_settings, retry_delays=(0.0,))
    assert sendgrid_server.delivered == {e: 1 for e in emails}  # in doubt in the ledger: the provider knows


def test_a_batch_that_cannot_be_prepared_is_released_not_left_in_doubt(sendgrid_settings, sendgrid_server, issue,
                                                                        make_list, monkeypatch):
    """Preparing a request does no I/O: when it fails, the batch's claim is undone (nothing of it left), the
    run stops with the error, and the next run sends those recipients once."""
    from newsletter.errors import DeliveryError

    emails = make_list("news", 4)
    monkeypatch.setattr(sg.SendGridBackend, "max_batch", 2)
    prepare = sg.SendGridBackend.prepare
    calls = []

    def fail_second(self, batch):
        calls.append(len(batch))
        if len(calls) == 2:
            raise DeliveryError("cannot build the request", subject="test")
        return prepare(self, batch)

    monkeypatch.setattr(sg.SendGridBackend, "prepare", fail_second)
    with pytest.raises(DeliveryError, match="cannot build the request"):
        send(issue, sendgrid_settings)
    assert sendgrid_server.delivered == {e: 1 for e in emails[:2]}
    state = dict(rows(sendgrid_settings.newsletter_database, "SELECT state, COUNT(*) FROM deliveries GROUP BY state"))
    assert state == {"accepted": 2, "queued": 2}  # released, not 'sending' (which a crash would turn into doubt)
    monkeypatch.setattr(sg.SendGridBackend, "prepare", prepare)
    report = send(issue, sendgrid_settings)
    assert report.totals.accepted == 4 and sendgrid_server.delivered == {e: 1 for e in emails}


def test_a_run_taken_over_while_refused_for_now_does_not_repeat_its_request(sendgrid_settings, sendgrid_server, issue,
                                                                             make_list):
    """A 429 proves nothing was taken, and the request would be repeated; but if another run took the send over
    meanwhile (this one stalled past its lease), repeating it would send beside that run, perhaps to someone who
    left since. It stops instead, having sent nothing more."""
    from newsletter.delivery.lease import HOST
    from newsletter.errors import DeliveryError
    from newsletter.store import connect, runs

    make_list("news", 2)
    sendgrid_server.faults = ["429"]

    def take_over(stage: str, body: dict) -> None:
        if stage == "request" and len(sendgrid_server.requests) == 1:
            conn = connect(sendgrid_settings.newsletter_database)
            runs.start(conn, 1, Process("other", HOST, 1, ""), lease_s=60, is_gone=lambda run: True)
            conn.close()

    sendgrid_server.tap = take_over
    with pytest.raises(DeliveryError) as stopped:
        send(issue, sendgrid_settings)
    assert len(sendgrid_server.requests) == 1 and sendgrid_server.delivered == {}  # not repeated
    assert "no longer holds the send" in str(stopped.value)
