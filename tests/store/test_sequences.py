"""SQL of sequences on both databases: enrolment at join, the due query, one ledger row per (member, step)."""

from __future__ import annotations

from dataclasses import replace

from newsletter.store import consent, sequences, transaction
from newsletter.store import subscribers as people
from newsletter.store.consent import ConsentFacts
from newsletter.store.segments import Condition
from newsletter.store.sends import SendVersion

FACTS = ConsentFacts("form", "Yes, send me the news", "0" * 64, "")
VERSION = SendVersion("abc", "Welcome", [], "outbox")


def setup(conn, steps: str = '[{"issue": "/w.md"}]') -> tuple[int, int]:
    """List 'news' with sequence 'welcome' attached: ``(list id, sequence id)``."""
    with transaction(conn):
        list_id = people.ensure_list(conn, "news")
    sequence_id, version, action = sequences.attach(
        conn, sequences.Attachment(list_id, "welcome", "welcome", "/w.md", "/", steps, "d1"))
    assert (version, action) == (1, "attached")
    return list_id, sequence_id


def signup(conn, list_id: int, email: str, now: str = "2026-12-01T10:00:00Z") -> int:
    """Sign up and confirm (double opt-in); the subscriber id."""
    with transaction(conn):
        outcome = consent.register_signup(conn, list_id, email, "", FACTS, mail_after="2000-01-01T00:00:00Z", now=now)
        assert consent.confirm_signup(conn, outcome.consent_id, now=now)
    return outcome.subscriber_id


def enrolments(conn) -> list[tuple]:
    return [tuple(r) for r in conn.execute(
        "SELECT subscriber_id, round, version, step, entered_at FROM enrolments ORDER BY subscriber_id, round")]


def due(list_id, sequence_id, send_id, **kw) -> sequences.DueStep:
    values = dict(version=1, round=1, index=0, previous_send_id=0, joined_by="2026-12-01T10:00:00Z",
                  previous_by=None, conditions=())
    values.update(kw)
    return sequences.DueStep(sequence_id, list_id, values["version"], values["round"], values["index"], send_id,
                             values["previous_send_id"], values["joined_by"], values["previous_by"],
                             values["conditions"])


def test_a_confirmed_signup_is_enrolled_once_and_a_rejoin_does_not_restart(conn):
    list_id, _ = setup(conn)
    ann = signup(conn, list_id, "ann@example.org")
    assert enrolments(conn) == [(ann, 1, 1, 0, "2026-12-01T10:00:00Z")]
    with transaction(conn):
        consent.leave_lists(conn, ann, [list_id], "test")
    signup(conn, list_id, "ann@example.org", now="2026-12-05T10:00:00Z")
    assert enrolments(conn) == [(ann, 1, 1, 0, "2026-12-01T10:00:00Z")]


def test_an_import_enrols_those_who_joined_since_in_one_statement(conn):
    with transaction(conn):
        list_id = people.ensure_list(conn, "news")
        old, _, _ = people.upsert_subscriber(conn, "old@example.org", "", {})
        people.add_membership(conn, list_id, old, now="2026-11-01T00:00:00Z")
    setup(conn)
    with transaction(conn):
        new, _, _ = people.upsert_subscriber(conn, "new@example.org", "", {})
        people.add_membership(conn, list_id, new, now="2026-12-01T00:00:00Z")
        assert sequences.enrol_joined(conn, list_id, since="2026-12-01T00:00:00Z") == 1
        assert sequences.enrol_joined(conn, list_id, since="2026-12-01T00:00:00Z") == 0
    assert [r[0] for r in enrolments(conn)] == [new]


def test_due_members_get_one_row_each_and_the_conditions_suppress(conn):
    list_id, sequence_id = setup(conn)
    ann = signup(conn, list_id, "ann@example.org")
    bob = signup(conn, list_id, "bob@example.org")
    late = signup(conn, list_id, "late@example.org", now="2026-12-01T10:00:01Z")
    with transaction(conn):
        conn.execute("UPDATE subscribers SET attributes = '{\"plan\": \"pro\"}' WHERE id = ?", (ann,))
    send_id = sequences.create_step_send(conn, "welcome", list_id, sequences.audience_key("welcome"), VERSION)
    assert sequences.create_step_send(conn, "welcome", list_id, "sequence:welcome", VERSION) == send_id
    step = due(list_id, sequence_id, send_id, conditions=(Condition("plan", "=", "pro"),))
    assert sequences.count_due(conn, step) == 2  # late joined a second after the cut-off
    assert sequences.queue_due(conn, step) == 2
    assert sequences.queue_due(conn, step) == 0  # a second worker writes nothing
    rows = dict(conn.execute("SELECT subscriber_id, state FROM deliveries WHERE send_id = ?", (send_id,)).fetchall())
    assert rows == {ann: "queued", bob: "suppressed"}
    assert [r[3] for r in enrolments(conn)] == [1, 1, 0]  # ann and bob move on; late waits
    assert late not in rows


def test_members_who_left_are_not_due_and_the_next_step_waits_for_a_decided_row(conn):
    list_id, sequence_id = setup(conn)
    ann = signup(conn, list_id, "ann@example.org")
    bob = signup(conn, list_id, "bob@example.org")
    with transaction(conn):
        consent.leave_lists(conn, bob, [list_id], "test")
    first = sequences.create_step_send(conn, "one", list_id, "sequence:welcome", VERSION)
    assert sequences.queue_due(conn, due(list_id, sequence_id, first)) == 1
    second = sequences.create_step_send(conn, "two", list_id, "sequence:welcome", VERSION)
    later = due(list_id, sequence_id, second, index=1, previous_send_id=first, joined_by=None,
                previous_by="2026-12-04T10:00:00Z")
    assert sequences.count_due(conn, later) == 0  # ann's first row is still queued
    with transaction(conn):
        conn.execute("UPDATE deliveries SET state = 'accepted', updated_at = '2026-12-04T10:00:01Z'"
                     " WHERE send_id = ? AND subscriber_id = ?", (first, ann))
    assert sequences.count_due(conn, later) == 0  # decided a second too late
    assert sequences.next_decided(conn, first, (sequence_id, 1, 1, 1), "2026-12-04T10:00:00Z") == "2026-12-04T10:00:01Z"
    assert sequences.count_due(conn, replace(later, previous_by="2026-12-04T10:00:01Z")) == 1


def test_restart_starts_a_new_round_and_ends_the_old_one(conn):
    list_id, sequence_id = setup(conn)
    ann = signup(conn, list_id, "ann@example.org")
    assert sequences.restart(conn, sequence_id, [ann], now="2026-12-09T00:00:00Z") == 1
    rows = conn.execute("SELECT round, ended_at FROM enrolments ORDER BY round").fetchall()
    assert [tuple(r) for r in rows] == [(1, "2026-12-09T00:00:00Z"), (2, None)]
    assert sequences.find(conn, "welcome")[0]["rounds"] == 2
    assert sequences.audience_key("welcome", 2) == "sequence:welcome#2"


def test_a_changed_file_is_a_new_version_and_enrolments_keep_theirs(conn):
    list_id, sequence_id = setup(conn)
    ann = signup(conn, list_id, "ann@example.org")
    assert sequences.snapshot(conn, sequence_id, '[{"issue": "/w.md"}]', "d1") == 1  # unchanged
    assert sequences.snapshot(conn, sequence_id, '[{"issue": "/x.md"}]', "d2") == 2
    bob = signup(conn, list_id, "bob@example.org")
    assert [(r[0], r[2]) for r in enrolments(conn)] == [(ann, 1), (bob, 2)]
    assert sequences.steps_of(conn, sequence_id, 1) == [{"issue": "/w.md"}]
    assert sequences.versions_of(conn, sequence_id) == [1, 2]


def test_a_detached_sequence_enrols_nobody_and_comes_back_where_it_was(conn):
    list_id, sequence_id = setup(conn)
    assert sequences.detach(conn, list_id, "welcome") and not sequences.detach(conn, list_id, "welcome")
    signup(conn, list_id, "ann@example.org")
    assert enrolments(conn) == [] and sequences.attached(conn) == []
    again, version, action = sequences.attach(
        conn, sequences.Attachment(list_id, "welcome", "welcome", "/w.md", "/", '[{"issue": "/w.md"}]', "d1"))
    assert (again, version, action) == (sequence_id, 1, "attached")


def test_the_archive_leaves_sequence_steps_out(conn):
    from newsletter.store import archive

    list_id, sequence_id = setup(conn)
    signup(conn, list_id, "ann@example.org")
    send_id = sequences.create_step_send(conn, "welcome", list_id, sequences.audience_key("welcome"), VERSION)
    sequences.queue_due(conn, due(list_id, sequence_id, send_id))
    with transaction(conn):
        conn.execute("UPDATE deliveries SET state = 'accepted'")
    assert archive.delivered_sends(conn) == []
