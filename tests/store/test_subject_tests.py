"""Subject tests in the store: the draw fixed with the ledger, the counts on human events only, and one pick."""

from __future__ import annotations

from collections import Counter

from newsletter.store import ledger, runs, sends, subject_tests, transaction
from newsletter.store import subscribers as people
from newsletter.store.ledger import State, Totals, Wanted
from newsletter.store.runs import Process
from newsletter.store.segments import Audience
from newsletter.store.sends import SendVersion
from newsletter.store.subject_tests import Decision, SubjectTest

SPEC = SubjectTest(("Subject B", "Subject C"), 20, 3600, "clicks")


def _list(conn, members: int, name: str = "news") -> int:
    with transaction(conn):
        list_id = people.ensure_list(conn, name)
        for i in range(members):
            sid, _, _ = people.upsert_subscriber(conn, f"s{i}@{name}.example.org", "", {})
            people.add_membership(conn, list_id, sid)
    return list_id


def _rows(conn, send_id: int) -> dict[int, tuple[str, str]]:
    return {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT subscriber_id, state, variant FROM deliveries WHERE send_id = ?", (send_id,))}


def _event(conn, send_id: int, subscriber_id: int, kind: str, verdict: str) -> None:
    with transaction(conn):
        conn.execute("INSERT INTO events (source, type, send_id, subscriber_id, occurred_at, attempt, verdict)"
                     " VALUES ('test', ?, ?, ?, '2026-01-01T00:00:00Z', 1, ?)", (kind, send_id, subscriber_id, verdict))


def test_the_draw_is_fixed_with_the_ledger_split_evenly_and_the_rest_held(conn):
    list_id = _list(conn, 100)
    send_id, size, created = sends.create_send(conn, "x", list_id, Audience("news"), SendVersion("h", "A!", [], "smtp"),
                                               SPEC)
    assert (size, created) == (100, True)
    rows = _rows(conn, send_id)
    by = Counter(rows.values())
    assert by[("held", "")] == 80
    assert sorted(by[("queued", v)] for v in "ABC") == [6, 7, 7]
    assert sum(by.values()) == 100  # nothing else: every row is queued with a variant or held without one
    test = subject_tests.get(conn, send_id)
    assert test["variants"] == {"A": "A!", "B": "Subject B", "C": "Subject C"}
    assert (test["share"], test["pick"], test["winner"]) == (20, "clicks", None)
    totals = Totals.from_counts(ledger.counts(conn, send_id))
    assert (totals.pending, totals.held, totals.status) == (20, 80, "partial")


def test_the_same_seed_draws_the_same_groups_and_another_seed_others(conn):
    list_id = _list(conn, 200)
    members = f"SELECT s.id FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id WHERE m.list_id = {list_id}"
    drawn = []
    for n, seed in enumerate((7, 7, 8)):
        send_id, _, _ = sends.create_send(conn, f"d{n}", list_id, Audience("news"), SendVersion("h", "A", [], "smtp"))
        with transaction(conn):
            conn.execute("DELETE FROM deliveries WHERE send_id = ?", (send_id,))
            subject_tests.insert_rows(conn, send_id, members, (), SPEC, seed=seed, now="2026-01-01T00:00:00Z")
        drawn.append(_rows(conn, send_id))
    assert drawn[0] == drawn[1]
    assert drawn[0] != drawn[2]
    tested = [sid for sid, (state, _) in drawn[0].items() if state == "queued"]
    assert len(tested) == 40 and tested != sorted(drawn[0])[:40]  # drawn from all over, not the first ids


def test_a_small_audience_still_gets_one_member_per_variant(conn):
    list_id = _list(conn, 4)
    send_id, _, _ = sends.create_send(conn, "x", list_id, Audience("news"), SendVersion("h", "A", [], "smtp"), SPEC)
    assert sorted(v for state, v in _rows(conn, send_id).values() if state == "queued") == ["A", "B", "C"]


def test_counts_are_of_human_events_and_the_pick_releases_the_rest_once(conn):
    list_id = _list(conn, 30)
    send_id, _, _ = sends.create_send(conn, "x", list_id, Audience("news"), SendVersion("h", "A", [], "smtp"),
                                      SubjectTest(("B!",), 20, 60, "opens"))
    rows = _rows(conn, send_id)
    a = [sid for sid, (_, v) in rows.items() if v == "A"]
    b = [sid for sid, (_, v) in rows.items() if v == "B"]
    _event(conn, send_id, a[0], "open", "machine")  # Apple's proxy: does not count
    _event(conn, send_id, a[1], "open", "unknown")
    _event(conn, send_id, b[0], "open", "human")
    _event(conn, send_id, b[0], "open", "human")  # the same person twice: one
    _event(conn, send_id, b[1], "click", "human")  # a click is an open too
    counts = subject_tests.variant_counts(conn, send_id)
    assert (counts["A"]["opens"], counts["B"]["opens"], counts["B"]["clicks"]) == (0, 2, 1)
    assert (counts["A"]["recipients"], counts["B"]["recipients"]) == (3, 3)

    first = Decision("B", counts, 0.9, "a worker", "2026-01-01T04:00:00Z")
    assert subject_tests.decide(conn, send_id, first) == 24
    assert subject_tests.decide(conn, send_id, first._replace(winner="A", decided_by="someone")) is None
    rows = _rows(conn, send_id)
    assert Counter(rows.values()) == Counter({("queued", "B"): 27, ("queued", "A"): 3})
    test = subject_tests.get(conn, send_id)
    assert (test["winner"], test["decided_by"], test["results"]["B"]["opens"]) == ("B", "a worker", 2)


def test_members_who_join_wait_for_the_pick_then_get_the_winner_and_claims_carry_the_variant(conn):
    list_id = _list(conn, 10)
    send_id, _, _ = sends.create_send(conn, "x", list_id, Audience("news"), SendVersion("h", "A", [], "smtp"), SPEC)
    with transaction(conn):
        late, _, _ = people.upsert_subscriber(conn, "late@example.org", "", {})
        people.add_membership(conn, list_id, late)
    assert sends.add_new_members(conn, send_id, list_id, "x", Audience("news")) == 1
    assert _rows(conn, send_id)[late] == ("held", "")
    run_id, _, _ = runs.start(conn, send_id, Process("o", "h", 1), lease_s=60, is_gone=lambda run: True)
    claimed, _ = ledger.claim(conn, send_id, list_id, run_id, Wanted(State.QUEUED, 0, 100, 1, True))
    assert len(claimed) == 3 and sorted(row[4] for row in claimed) == ["A", "B", "C"]
    subject_tests.decide(conn, send_id, Decision("C", {}, None, "x", "2026-01-01T00:00:00Z"))
    with transaction(conn):
        later, _, _ = people.upsert_subscriber(conn, "later@example.org", "", {})
        people.add_membership(conn, list_id, later)
    sends.add_new_members(conn, send_id, list_id, "x", Audience("news"))
    assert _rows(conn, send_id)[late] == ("queued", "C")
    assert _rows(conn, send_id)[later] == ("queued", "C")


def test_two_picks_at_once_make_one_decision(conn, database):
    import threading

    from newsletter.store import connect

    list_id = _list(conn, 40)
    send_id, _, _ = sends.create_send(conn, "x", list_id, Audience("news"), SendVersion("h", "A", [], "smtp"), SPEC)
    tested = Counter(v for state, v in _rows(conn, send_id).values() if state == "queued")
    start, results = threading.Barrier(3), {}

    def pick(variant: str) -> None:
        other = connect(database)  # each worker its own connection
        try:
            start.wait(30)
            results[variant] = subject_tests.decide(other, send_id, Decision(variant, {}, None, "w", "2026-01-01T00:00:00Z"))
        finally:
            other.close()

    threads = [threading.Thread(target=pick, args=(v,)) for v in "ABC"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [v for v, released in results.items() if released is not None]
    assert len(results) == 3 and len(winners) == 1 and results[winners[0]] == 32  # one decision, the 32 held
    winner = winners[0]
    assert subject_tests.get(conn, send_id)["winner"] == winner
    assert Counter(v for _, v in _rows(conn, send_id).values()) == tested + Counter({winner: 32})
