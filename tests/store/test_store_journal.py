"""The delivery journal: claims, outcomes, stale rows, counters."""

from __future__ import annotations

import pytest

from newsletter.store import sends as journal
from newsletter.store import transaction
from newsletter.store import subscribers as store


@pytest.fixture
def send(conn):
    with transaction(conn):
        list_id = store.ensure_list(conn, "news")
        for i in range(10):
            sid, _, _ = store.upsert_subscriber(conn, f"s{i}@example.org", f"S {i}", {})
            store.add_membership(conn, list_id, sid)
        store.set_status(conn, 3, "unsubscribed")
    send_id = journal.create_send(conn, slug="x", html_sha256="abc", list_id=list_id, backend="outbox", subject="S", links=["https://a"])
    return send_id, list_id


def test_claim_new_never_returns_a_recipient_twice_and_skips_suppressed(conn, send):
    send_id, list_id = send
    first = journal.claim_new(conn, send_id, list_id, after_id=0, limit=4, batch=1)
    assert [r[0] for r in first] == [1, 2, 4, 5]  # 3 is unsubscribed
    # A new run starting over from id 0 does not see journaled recipients.
    second = journal.claim_new(conn, send_id, list_id, after_id=0, limit=100, batch=2)
    assert [r[0] for r in second] == [6, 7, 8, 9, 10]
    assert journal.claim_new(conn, send_id, list_id, after_id=0, limit=100, batch=3) == []
    assert journal.pending_counts(conn, send_id, list_id) == (0, 1)


def test_outcomes_counters_and_stale_rows(conn, send):
    send_id, list_id = send
    rows = journal.claim_new(conn, send_id, list_id, after_id=0, limit=5, batch=1)
    journal.finish_batch(conn, send_id, [(rows[0][0], "accepted", "m1", ""), (rows[1][0], "failed", "", "550 no")])
    # Rows 3..5 stay 'sending': a killed run. The next run makes them in doubt.
    assert journal.start_run(conn, send_id) == 3
    counts = journal.delivery_counts(conn, send_id)
    assert counts["accepted"] == 1 and counts["failed"] == 1 and counts["in_doubt"] == 3
    row = journal.get_send(conn, send_id)
    assert (row["recipients"], row["accepted"], row["failed"], row["in_doubt"]) == (5, 1, 1, 3)
    # Explicit retry of failed rows, then of in-doubt rows.
    again = journal.claim_existing(conn, send_id, "failed", after_id=0, limit=10, batch=2)
    assert [r[0] for r in again] == [rows[1][0]]
    journal.finish_batch(conn, send_id, [(rows[1][0], "accepted", "m2", "")])
    assert journal.skip_in_doubt(conn, send_id) == 3
    row = journal.get_send(conn, send_id)
    assert (row["accepted"], row["failed"], row["in_doubt"], row["skipped"]) == (2, 0, 0, 3)
    assert journal.refresh_send(conn, send_id)["skipped"] == 3


def test_release_undoes_a_claim_that_never_went_out(conn, send):
    send_id, list_id = send
    rows = journal.claim_new(conn, send_id, list_id, after_id=0, limit=3, batch=1)
    journal.release(conn, send_id, [r[0] for r in rows], restore=None)
    assert journal.delivery_counts(conn, send_id)["sending"] == 0
    assert journal.get_send(conn, send_id)["recipients"] == 0
    assert journal.delete_send_if_empty(conn, send_id) is True
    assert journal.get_send(conn, send_id) is None
