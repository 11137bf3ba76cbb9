"""The delivery ledger: a fixed audience, claims, outcomes, runs and their leases, settling doubts."""

from __future__ import annotations

import json

import pytest

from newsletter.store import ledger, runs, sends, transaction
from newsletter.store import subscribers as store
from newsletter.store.ledger import Totals
from newsletter.store.runs import Process
from newsletter.store.segments import Audience
from newsletter.store.sends import SendVersion


@pytest.fixture
def send(conn):
    with transaction(conn):
        list_id = store.ensure_list(conn, "news")
        for i in range(10):
            sid, _, _ = store.upsert_subscriber(conn, f"s{i}@example.org", f"S {i}", {})
            store.add_membership(conn, list_id, sid)
        store.set_status(conn, 3, "unsubscribed")
    send_id, size, _ = sends.create_send(conn, "x", list_id, Audience(), SendVersion("abc", "S", ["https://a"], "outbox"))
    assert size == 9  # 3 is unsubscribed: not in the audience
    return send_id, list_id


def start_run(conn, send_id, *, gone=False, lease_s=60.0, owner="a", worker=False):
    return runs.start(conn, send_id, Process(owner, "h", 1, ""), lease_s=lease_s,
                      is_gone=lambda run: gone, worker=worker)


def claim(conn, send_id, list_id, run_id, source="queued", limit=100, batch=1, handed_over=True, after=0):
    rows, _ = ledger.claim(conn, send_id, list_id, run_id, ledger.Wanted(source, after, limit, batch, handed_over))
    return [r[0] for r in rows]


def test_the_audience_is_fixed_when_the_send_starts(conn, send):
    send_id, list_id = send
    with transaction(conn):
        late, _, _ = store.upsert_subscriber(conn, "late@example.org", "Late", {})
        store.add_membership(conn, list_id, late)
    assert sends.add_new_members(conn, send_id, list_id, "x", dry_run=True) == 1
    run_id, _, _ = start_run(conn, send_id)
    assert late not in claim(conn, send_id, list_id, run_id)
    assert sends.add_new_members(conn, send_id, list_id, "x") == 1  # only when asked (--include-new)
    assert claim(conn, send_id, list_id, run_id, batch=2) == [late]


def test_claims_never_return_a_recipient_twice_and_suppress_who_left(conn, send):
    send_id, list_id = send
    run_id, _, _ = start_run(conn, send_id)
    assert claim(conn, send_id, list_id, run_id, limit=4) == [1, 2, 4, 5]
    with transaction(conn):
        store.set_status(conn, 7, "bounced")  # after the audience was fixed, before its batch was claimed
    assert claim(conn, send_id, list_id, run_id, batch=2) == [6, 8, 9, 10]
    assert claim(conn, send_id, list_id, run_id, batch=3) == []
    counts = ledger.counts(conn, send_id)
    assert (counts["sending"], counts["suppressed"], counts["queued"]) == (8, 1, 0)


def test_a_dead_runs_rows_in_flight_become_in_doubt_and_its_claims_go_back(conn, send):
    send_id, list_id = send
    run_id, _, _ = start_run(conn, send_id)
    ids = claim(conn, send_id, list_id, run_id, limit=5, handed_over=False)  # claimed, per message
    assert ledger.mark_sending(conn, send_id, run_id, ids[0]) and ledger.mark_sending(conn, send_id, run_id, ids[1])
    assert ledger.record(conn, send_id, run_id, [(ids[0], "accepted", "m1", "")]) == 1
    # ids[1] is on the wire, ids[2:] only claimed, when the process dies.
    second, _, holder = start_run(conn, send_id, owner="b")
    assert second == 0 and holder.id == run_id  # a fresh lease is respected
    second, doubt, holder = start_run(conn, send_id, owner="b", gone=True)
    assert second and holder is None and doubt == 1
    counts = ledger.counts(conn, send_id)
    assert (counts["accepted"], counts["in_doubt"], counts["queued"], counts["claimed"]) == (1, 1, 7, 0)
    # The dead run can no longer record anything: its rows are not its own.
    assert ledger.record(conn, send_id, run_id, [(ids[2], "accepted", "m3", "")]) == 0
    assert not ledger.mark_sending(conn, send_id, run_id, ids[3])


def test_an_expired_lease_is_taken_over_and_a_renewal_then_fails(conn, send):
    send_id, _ = send
    first, _, _ = start_run(conn, send_id, lease_s=-1)  # a lease that has already run out
    second, _, holder = start_run(conn, send_id, owner="b")
    assert second and holder is None
    assert runs.renew(conn, first, 60) is False and runs.renew(conn, second, 60) is True


def test_workers_share_a_send_and_a_run_that_is_not_one_holds_it_alone(conn, send):
    send_id, list_id = send
    first, _, _ = start_run(conn, send_id, worker=True)
    second, _, holder = start_run(conn, send_id, owner="b", worker=True)
    assert first and second and holder is None  # workers side by side
    refused, _, holder = start_run(conn, send_id, owner="c")
    assert refused == 0 and holder.id == first and holder.worker  # a plain run waits for the workers
    a = claim(conn, send_id, list_id, first, limit=4)
    b = claim(conn, send_id, list_id, second, limit=4, after=a[-1], batch=2)
    assert set(a).isdisjoint(b) and len(a) == len(b) == 4
    # The first worker dies with its batch on the wire; the second one's heartbeat notices.
    assert runs.reap(conn, second, send_id, is_gone=lambda run: run.id == first) == 4
    counts = ledger.counts(conn, send_id)
    assert (counts["in_doubt"], counts["sending"], counts["queued"]) == (4, 4, 1)  # the second one's rows untouched
    assert ledger.record(conn, send_id, second, [(i, "accepted", "m", "") for i in b]) == 4
    assert [r.id for r in runs.open_runs(conn, send_id)] == [second]


def test_a_worker_waits_for_a_run_that_is_not_one(conn, send):
    send_id, _ = send
    first, _, _ = start_run(conn, send_id)
    refused, _, holder = start_run(conn, send_id, owner="b", worker=True)
    assert refused == 0 and holder.id == first and not holder.worker
    runs.end(conn, first, send_id, "finished")
    joined, _, holder = start_run(conn, send_id, owner="b", worker=True)
    assert joined and holder is None


def test_release_returns_rows_to_where_they_were(conn, send):
    send_id, list_id = send
    run_id, _, _ = start_run(conn, send_id)
    ids = claim(conn, send_id, list_id, run_id, limit=3)
    ledger.record(conn, send_id, run_id, [(i, "in_doubt", "", "timeout") for i in ids])
    again = claim(conn, send_id, list_id, run_id, source="in_doubt", batch=2)
    assert again == ids
    assert ledger.unclaim(conn, send_id, run_id, again) == 3  # e.g. 401: provably not sent
    counts = ledger.counts(conn, send_id)
    assert counts["in_doubt"] == 3 and counts["sending"] == 0
    assert ledger.skip_in_doubt(conn, send_id) == 3
    assert Totals.from_counts(ledger.counts(conn, send_id)).line().startswith("0 accepted, 0 failed, 0 in doubt, 3 skipped")


def test_an_unsent_send_can_be_removed_without_trace(conn, send):
    send_id, list_id = send
    run_id, _, _ = start_run(conn, send_id)
    ids = claim(conn, send_id, list_id, run_id, limit=3)
    ledger.unclaim(conn, send_id, run_id, ids)
    assert sends.delete_unsent(conn, send_id) is False  # a run still holds it (a worker that joined)
    runs.end(conn, run_id, send_id, "failed")
    assert sends.delete_unsent(conn, send_id) is True
    assert sends.get_send(conn, send_id) is None


def test_provider_events_settle_doubts(conn, send):
    send_id, list_id = send
    run_id, _, _ = start_run(conn, send_id)
    ids = claim(conn, send_id, list_id, run_id, limit=3)
    ledger.record(conn, send_id, run_id, [(i, "in_doubt", "", "HTTP 502") for i in ids])
    events = [(ids[0], "delivered", 1), (ids[1], "dropped", 1), (ids[2], "dropped", 7)]  # 7: another attempt
    with transaction(conn):
        for sid, kind, attempt in events:
            conn.execute("INSERT INTO events (source, type, send_id, subscriber_id, occurred_at, raw, attempt)"
                         " VALUES ('sendgrid', ?, ?, ?, 'now', ?, ?)", (kind, send_id, sid, json.dumps({}), attempt))
    assert ledger.settle_from_events(conn, send_id, dry_run=True) == (1, 1)
    assert ledger.settle_from_events(conn, send_id) == (1, 1)
    counts = ledger.counts(conn, send_id)
    assert (counts["accepted"], counts["failed"], counts["in_doubt"]) == (1, 1, 1)
