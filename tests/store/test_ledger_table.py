"""The ledger's table of states is the truth: every move the SQL makes is in ``ledger.TRANSITIONS``,
and every move the table allows is one the SQL really makes.

A trigger records each change of a row's state while every ledger function runs at least once.
"""

from __future__ import annotations

import pytest

from newsletter.store import connect, ledger, runs, sends, subject_tests, transaction
from newsletter.store import subscribers as people
from newsletter.store.ledger import TRANSITIONS, State, Wanted
from newsletter.store.runs import Process
from newsletter.store.segments import Audience
from newsletter.store.sends import SendVersion
from newsletter.store.subject_tests import SubjectTest

pytestmark = pytest.mark.sqlite_only

TRIGGER = """
CREATE TEMP TABLE moves (before TEXT, after TEXT);
CREATE TEMP TRIGGER record_moves AFTER UPDATE OF state ON deliveries WHEN old.state != new.state
BEGIN INSERT INTO moves VALUES (old.state, new.state); END;
"""


@pytest.fixture
def conn(tmp_path):
    connection = connect(str(tmp_path / "ledger.db"))
    connection.executescript(TRIGGER)
    yield connection
    connection.close()


def _send(conn, members: int) -> tuple[int, int]:
    with transaction(conn):
        list_id = people.ensure_list(conn, "news")
        for i in range(members):
            sid, _, _ = people.upsert_subscriber(conn, f"s{i}@example.org", "", {})
            people.add_membership(conn, list_id, sid)
    send_id, size, _ = sends.create_send(conn, "x", list_id, Audience("news"), SendVersion("h", "S", [], "smtp"))
    assert size == members
    return send_id, list_id


def _run(conn, send_id: int, owner: str) -> int:
    run_id, _, holder = runs.start(conn, send_id, Process(owner, "h", 1), lease_s=60, is_gone=lambda run: True)
    assert holder is None
    return run_id


def _states(conn, send_id: int) -> dict[int, str]:
    return dict(conn.execute("SELECT subscriber_id, state FROM deliveries WHERE send_id = ?", (send_id,)).fetchall())


def _event(conn, send_id: int, subscriber_id: int, kind: str, attempt: int) -> None:
    with transaction(conn):
        conn.execute("INSERT INTO events (source, type, send_id, subscriber_id, occurred_at, attempt)"
                     " VALUES ('test', ?, ?, ?, '2026-01-01T00:00:00Z', ?)", (kind, send_id, subscriber_id, attempt))


def test_every_move_of_the_sql_is_in_the_table_and_every_move_of_the_table_is_made(conn):
    send_id, list_id = _send(conn, 12)
    ids = sorted(_states(conn, send_id))
    people.set_status(conn, ids[11], "unsubscribed")  # left before its batch was claimed: queued -> suppressed

    run = _run(conn, send_id, "a")
    # Per-message hand-over (SMTP): queued -> claimed -> sending -> accepted / failed / in doubt.
    rows, _ = ledger.claim(conn, send_id, list_id, run, Wanted(State.QUEUED, 0, 6, 1, False))
    assert len(rows) == 6
    for sid, *_ in rows:
        assert ledger.mark_sending(conn, send_id, run, sid)
    assert ledger.unmark_sending(conn, send_id, run, ids[5])  # refused for now: sending -> claimed
    ledger.record(conn, send_id, run, [(ids[0], "accepted", "m0", ""), (ids[1], "failed", "", "550 no such user"),
                                       (ids[2], "in_doubt", "", "timeout"), (ids[3], "in_doubt", "", "timeout"),
                                       (ids[4], "in_doubt", "", "timeout")])
    ledger.unclaim(conn, send_id, run, [ids[5]])  # claimed -> queued (its prior state)
    # One request per batch (SendGrid): queued -> sending, and a refusal that proves nothing left: unclaim.
    rows, _ = ledger.claim(conn, send_id, list_id, run, Wanted(State.QUEUED, ids[4], 2, 2, True))
    assert [r[0] for r in rows] == [ids[5], ids[6]]
    ledger.unclaim(conn, send_id, run, [ids[6]])  # sending -> queued
    ledger.record(conn, send_id, run, [(ids[5], "accepted", "m5", "")])
    # The run dies with one row on the wire and one only claimed: sending -> in doubt, claimed -> queued.
    ledger.claim(conn, send_id, list_id, run, Wanted(State.QUEUED, ids[5], 1, 3, True))
    ledger.claim(conn, send_id, list_id, run, Wanted(State.QUEUED, ids[6], 1, 4, False))
    runs.end(conn, run, send_id, "failed")
    states = _states(conn, send_id)
    assert (states[ids[6]], states[ids[7]]) == ("in_doubt", "queued")

    run = _run(conn, send_id, "b")
    # Re-sends: in doubt and failed rows claimed again; a failed re-send of a doubt stays in doubt.
    ledger.claim(conn, send_id, list_id, run, Wanted(State.IN_DOUBT, 0, 1, 5, True))  # ids[2]: in_doubt -> sending
    ledger.record(conn, send_id, run, [(ids[2], "failed", "", "550")])  # sending -> in_doubt again
    rows, _ = ledger.claim(conn, send_id, list_id, run, Wanted(State.IN_DOUBT, ids[2], 1, 6, False))  # -> claimed
    ledger.unclaim(conn, send_id, run, [r[0] for r in rows])  # claimed -> in_doubt (prior)
    assert ledger.claim_ids(conn, send_id, run, [ids[1]], batch=7, handed_over=False)  # failed -> claimed
    ledger.unclaim(conn, send_id, run, [ids[1]])  # claimed -> failed (prior)
    ledger.claim_ids(conn, send_id, run, [ids[1]], batch=8, handed_over=True)  # failed -> sending
    ledger.record(conn, send_id, run, [(ids[1], "failed", "", "550 again")])  # sending -> failed
    ledger.claim(conn, send_id, list_id, run, Wanted(State.FAILED, 0, 1, 9, False))  # ids[1]: failed -> claimed
    runs.end(conn, run, send_id, "failed")  # claimed -> failed (prior), as for a dead run
    # The provider's own record settles doubts; the user skips the rest.
    _event(conn, send_id, ids[3], "delivered", 1)
    _event(conn, send_id, ids[4], "dropped", 1)
    assert ledger.settle_from_events(conn, send_id) == (1, 1)  # in_doubt -> accepted, in_doubt -> failed
    assert ledger.skip_in_doubt(conn, send_id) >= 1  # in_doubt -> skipped
    run = _run(conn, send_id, "c")
    rows, _ = ledger.claim(conn, send_id, list_id, run, Wanted(State.QUEUED, 0, 100, 10, True))
    assert ids[11] not in [r[0] for r in rows]  # the member who left was suppressed, not claimed
    # A subject test: its rest is held until the pick releases it (held -> queued, with the winner's variant).
    test_send, _, _ = sends.create_send(conn, "y", list_id, Audience("news"), SendVersion("h", "S", [], "smtp"),
                                        SubjectTest(("B",), 50, 60, "clicks"))
    assert "held" in _states(conn, test_send).values()
    decision = subject_tests.Decision("B", {}, None, "test", "2026-01-01T00:00:00Z")
    assert subject_tests.decide(conn, test_send, decision)
    assert "held" not in _states(conn, test_send).values()

    seen = {(State(a), State(b)) for a, b in conn.execute("SELECT before, after FROM moves")}
    allowed = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert seen - allowed == set()  # the SQL makes no move the table does not name
    assert allowed - seen == set()  # the table names no move the SQL never makes
    assert {a for a, targets in TRANSITIONS.items() if not targets} == {State.ACCEPTED, State.SKIPPED,
                                                                        State.SUPPRESSED}
