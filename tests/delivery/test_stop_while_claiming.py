"""The run loop: a stop (a pause) that comes while the next batch is being claimed keeps that batch home – its
claim is undone before anything leaves, so nothing goes out after the pause was recorded but what was in flight."""

from __future__ import annotations

import threading

from newsletter.delivery import sendgrid as sg
from tests.delivery.fakes import rows


def test_a_batch_claimed_as_the_stop_comes_does_not_leave_and_is_queued_again(sendgrid_settings, sendgrid_server,
                                                                               issue, make_list, monkeypatch):
    from newsletter.delivery.plan import Controls, SendOptions
    from newsletter.delivery.send import send_issue
    from newsletter.store import ledger

    monkeypatch.setattr(sg.SendGridBackend, "max_batch", 2)
    emails = make_list("news", 4)
    stop, claim, claims = threading.Event(), ledger.claim, []

    def claim_then_stop(*args, **kwargs):  # the stop comes just as the second batch's claim is made
        claimed = claim(*args, **kwargs)
        claims.append(len(claimed[0]))
        if len(claims) == 2:
            stop.set()
        return claimed

    monkeypatch.setattr(ledger, "claim", claim_then_stop)
    report = send_issue(issue, SendOptions("news"), sendgrid_settings, controls=Controls(stop=stop))
    assert claims == [2, 2] and report.interrupted
    assert sendgrid_server.delivered == {e: 1 for e in emails[:2]}  # the first batch only
    states = dict(rows(sendgrid_settings.newsletter_database, "SELECT s.email, d.state FROM deliveries d"
                       " JOIN subscribers s ON s.id = d.subscriber_id"))
    assert states == {emails[0]: "accepted", emails[1]: "accepted", emails[2]: "queued", emails[3]: "queued"}
