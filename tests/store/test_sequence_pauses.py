"""SQL of sequence pauses on both databases: set once, cleared once, read by the worker; a step's send names
its sequence."""

from __future__ import annotations

from newsletter.store import sequences, transaction
from newsletter.store.sends import SendVersion
from tests.store.test_sequences import setup

VERSION = SendVersion("abc", "Welcome", [], "outbox")


def test_a_pause_is_set_once_and_cleared_once(conn):
    list_id, sequence_id = setup(conn)
    assert not sequences.is_paused(conn, sequence_id)
    with transaction(conn):
        assert sequences.set_paused(conn, sequence_id, paused=True, by="ann", now="2026-12-01T10:00:00Z")
    with transaction(conn):
        assert not sequences.set_paused(conn, sequence_id, paused=True, by="bob", now="2026-12-01T11:00:00Z")
    assert sequences.is_paused(conn, sequence_id)
    [found] = sequences.find(conn, "welcome")
    assert (found["paused_at"], found["paused_by"]) == ("2026-12-01T10:00:00Z", "ann")
    assert [r["paused_by"] for r in sequences.attached(conn)] == ["ann"]
    with transaction(conn):
        assert sequences.set_paused(conn, sequence_id, paused=False, now="2026-12-01T12:00:00Z")
    with transaction(conn):
        assert not sequences.set_paused(conn, sequence_id, paused=False, now="2026-12-01T12:00:00Z")
    assert not sequences.is_paused(conn, sequence_id)
    assert sequences.find(conn, "welcome")[0]["paused_by"] == ""


def test_a_step_send_names_its_sequence_and_other_sends_do_not(conn):
    list_id, _ = setup(conn)
    first = sequences.create_step_send(conn, "w", list_id, sequences.audience_key("onboarding"), VERSION)
    second = sequences.create_step_send(conn, "w", list_id, sequences.audience_key("onboarding", 2), VERSION)
    other = sequences.create_step_send(conn, "w", list_id, "list", VERSION)
    assert sequences.of_send(conn, first) == {"name": "onboarding", "list": "news"}
    assert sequences.of_send(conn, second) == {"name": "onboarding", "list": "news"}
    assert sequences.of_send(conn, other) is None
    assert sequences.of_send(conn, 999) is None
