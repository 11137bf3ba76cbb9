"""Who a resend reaches: the recipients of a send with no read of it (store/sends.py), on both databases."""

from __future__ import annotations

import pytest

from newsletter.errors import InputError
from newsletter.store import sends, transaction
from newsletter.store import subscribers as people
from newsletter.store.segments import Audience, Condition
from newsletter.store.sends import SendVersion

VERSION = SendVersion("0" * 64, "Harbour news", [], "outbox")
SLUG = "harbour"

#: Each person's fate in the first send: (ledger state, events as (type, verdict)), city.
PEOPLE = {
    "human-open": ("accepted", [("open", "human")], "Oslo"),
    "human-click": ("accepted", [("click", "human")], "Oslo"),
    "proxy-then-human": ("accepted", [("open", "machine"), ("open", "human")], "Oslo"),
    "machine-open": ("accepted", [("open", "machine")], "Oslo"),
    "machine-click": ("accepted", [("click", "machine"), ("open", "machine")], "Bergen"),
    "unknown-open": ("accepted", [("open", "unknown")], "Bergen"),
    "unknown-click": ("accepted", [("click", "unknown")], "Bergen"),
    "delivered-only": ("accepted", [("delivered", "")], "Oslo"),
    "nothing": ("accepted", [], "Bergen"),
    "left": ("accepted", [], "Oslo"),
    "bounced": ("accepted", [], "Oslo"),
    "failed": ("failed", [], "Oslo"),
    "in-doubt": ("in_doubt", [], "Oslo"),
}
#: Who did not read: opens a machine made, an open we cannot judge, nothing at all.
NON_READERS = {"machine-open", "machine-click", "unknown-open", "delivered-only", "nothing"}


def ids_of(conn, send_id: int) -> set[str]:
    return {r[0].split("@")[0] for r in conn.execute(
        "SELECT s.email FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE d.send_id = ?", (send_id,))}


@pytest.fixture
def first(conn):
    """List 'news' sent issue 'harbour' (send 1, finished) with PEOPLE's outcomes and events, and a
    member who joined after it; 'left' then left the list and 'bounced' bounced."""
    with transaction(conn):
        news = people.ensure_list(conn, "news")
        for name, (_, _, city) in PEOPLE.items():
            sid, _, _ = people.upsert_subscriber(conn, f"{name}@example.org", "", {"city": city})
            people.add_membership(conn, news, sid)
    send_id, size, _ = sends.create_send(conn, SLUG, news, Audience.of("news", ()), VERSION)
    assert size == len(PEOPLE)
    with transaction(conn):
        for name, (state, events, _) in PEOPLE.items():
            sid = conn.execute("SELECT id FROM subscribers WHERE email = ?", (f"{name}@example.org",)).fetchone()[0]
            conn.execute("UPDATE deliveries SET state = ? WHERE send_id = ? AND subscriber_id = ?", (state, send_id, sid))
            for kind, verdict in events:
                conn.execute("INSERT INTO events (source, type, send_id, subscriber_id, email, occurred_at, verdict)"
                             " VALUES ('tracking', ?, ?, ?, ?, '2026-12-01T10:00:00Z', ?)",
                             (kind, send_id, sid, f"{name}@example.org", verdict))
        conn.execute("UPDATE sends SET finished_at = '2026-12-01T09:00:00Z' WHERE id = ?", (send_id,))
        late, _, _ = people.upsert_subscriber(conn, "joined-later@example.org", "", {"city": "Oslo"})
        people.add_membership(conn, news, late)
        left = conn.execute("SELECT id FROM subscribers WHERE email = 'left@example.org'").fetchone()[0]
        conn.execute("UPDATE memberships SET status = 'unsubscribed' WHERE subscriber_id = ?", (left,))
        bounced = conn.execute("SELECT id FROM subscribers WHERE email = 'bounced@example.org'").fetchone()[0]
        people.set_status(conn, bounced, "bounced")
    return news, send_id


def test_the_audience_is_who_received_it_and_did_not_read_it(conn, first):
    news, source = first
    audience = Audience.of("news", (), non_readers_of=source)
    assert audience.key == f"non-readers-of:{source}"
    assert sends.count_audience(conn, SLUG, news, audience)[0] == len(NON_READERS)
    resend, size, created = sends.create_send(conn, SLUG, news, audience, VERSION)
    assert created and size == len(NON_READERS) and resend != source
    assert ids_of(conn, resend) == NON_READERS
    assert sends.member_ids(conn, "", news, audience) == []  # all in the resend now: nobody else is left


def test_the_same_resend_again_is_the_same_send_and_adds_nobody(conn, first):
    news, source = first
    audience = Audience.of("news", (), non_readers_of=source)
    resend, _, _ = sends.create_send(conn, SLUG, news, audience, VERSION)
    again, size, created = sends.create_send(conn, SLUG, news, audience, VERSION)
    assert (again, size, created) == (resend, 0, False)
    assert sends.add_new_members(conn, resend, news, SLUG, audience, dry_run=True) == 0
    assert sends.count_audience(conn, SLUG, news, audience)[0] == 0  # a second resend of it: nobody


def test_where_narrows_it_and_two_resends_of_one_send_never_overlap(conn, first):
    news, source = first
    oslo = Audience.of("news", [Condition("city", "=", "Oslo")], non_readers_of=source)
    assert oslo.key == f"non-readers-of:{source} city=Oslo"
    first_resend, size, _ = sends.create_send(conn, SLUG, news, oslo, VERSION)
    assert ids_of(conn, first_resend) == {"machine-open", "delivered-only"} and size == 2
    # Queued, not sent yet: the whole list's resend still leaves them out.
    everyone = Audience.of("news", (), non_readers_of=source)
    rest, size, _ = sends.create_send(conn, SLUG, news, everyone, VERSION)
    assert ids_of(conn, rest) == NON_READERS - {"machine-open", "delivered-only"} and size == 3


def test_a_second_resend_leaves_out_whom_the_first_failed_for_it_may_still_retry_them(conn, first):
    # A regression: the second resend took a member whose row in the first had failed; `--retry-failed` of the
    # first then sent them the issue again, a second resend for one person.
    news, source = first
    first_resend, _, _ = sends.create_send(conn, SLUG, news, Audience.of("news", (), non_readers_of=source), VERSION)
    with transaction(conn):
        conn.execute("UPDATE deliveries SET state = 'accepted' WHERE send_id = ?", (first_resend,))
        conn.execute("UPDATE deliveries SET state = 'failed' WHERE send_id = ? AND subscriber_id ="
                     " (SELECT id FROM subscribers WHERE email = 'nothing@example.org')", (first_resend,))
        conn.execute("UPDATE deliveries SET state = 'suppressed' WHERE send_id = ? AND subscriber_id ="
                     " (SELECT id FROM subscribers WHERE email = 'unknown-open@example.org')", (first_resend,))
    bergen = Audience.of("news", [Condition("city", "=", "Bergen")], non_readers_of=source)
    second, size, _ = sends.create_send(conn, SLUG, news, bergen, VERSION)
    assert ids_of(conn, second) == {"unknown-open"} and size == 1  # suppressed (left, then came back): not held


def test_a_read_after_the_audience_was_fixed_does_not_take_them_out_but_one_before_does(conn, first):
    news, source = first
    audience = Audience.of("news", (), non_readers_of=source)
    nothing = conn.execute("SELECT id FROM subscribers WHERE email = 'nothing@example.org'").fetchone()[0]
    with transaction(conn):
        conn.execute("INSERT INTO events (source, type, send_id, subscriber_id, email, occurred_at, verdict)"
                     " VALUES ('tracking', 'click', ?, ?, 'nothing@example.org', '2026-12-02T10:00:00Z', 'human')",
                     (source, nothing))
    assert sends.count_audience(conn, SLUG, news, audience)[0] == len(NON_READERS) - 1


def test_a_scheduled_resend_is_fixed_when_it_starts_and_only_once(conn, first):
    news, source = first
    audience = Audience.of("news", (), non_readers_of=source)
    resend, size, created = sends.create_send(conn, SLUG, news, audience, VERSION, fill=False)
    assert created and size == 0 and ids_of(conn, resend) == set()
    assert sends.get_send(conn, resend)["started_at"] is None
    unknown = conn.execute("SELECT id FROM subscribers WHERE email = 'unknown-open@example.org'").fetchone()[0]
    with transaction(conn):  # reads it while the resend waits for its time
        conn.execute("INSERT INTO events (source, type, send_id, subscriber_id, email, occurred_at, verdict)"
                     " VALUES ('tracking', 'open', ?, ?, 'unknown-open@example.org', '2026-12-02T10:00:00Z', 'human')",
                     (source, unknown))
    assert sends.fix_audience(conn, resend, news, SLUG, audience) == len(NON_READERS) - 1
    assert sends.fix_audience(conn, resend, news, SLUG, audience) is None
    assert ids_of(conn, resend) == NON_READERS - {"unknown-open"}


def test_other_sends_of_the_issue_still_leave_out_who_got_a_resend(conn, first):
    news, source = first
    resend, _, _ = sends.create_send(conn, SLUG, news, Audience.of("news", (), non_readers_of=source), VERSION)
    with transaction(conn):
        conn.execute("UPDATE deliveries SET state = 'accepted' WHERE send_id = ?", (resend,))
    # A later segment send of the same issue: only who was never handed it.
    later, _, _ = sends.create_send(conn, SLUG, news, Audience.of("news", [Condition("city", "=", "Oslo")]), VERSION)
    assert ids_of(conn, later) == {"joined-later"}  # "failed" is the first send's to retry (`--retry-failed`)


@pytest.mark.parametrize("problem, args", [
    ("no send 99", (99, "news", SLUG)),
    ("went to another list, not 'other'", (None, "other", SLUG)),
    ("sent issue 'harbour', not 'another'", (None, "news", "another")),
])
def test_check_source_refuses_a_send_that_cannot_be_followed(conn, first, problem, args):
    news, source = first
    other = people.ensure_list(conn, "other")
    send_id, list_name, slug = args
    with pytest.raises(InputError, match=problem) as caught:
        sends.check_source(conn, send_id or source, other if list_name == "other" else news, list_name, slug)
    assert caught.value.subject == "--to-non-readers-of"


def test_check_source_refuses_a_resend_and_an_unfinished_send(conn, first):
    news, source = first
    assert sends.check_source(conn, source, news, "news", SLUG)["accepted"] == 11
    resend, _, _ = sends.create_send(conn, SLUG, news, Audience.of("news", (), non_readers_of=source), VERSION)
    with pytest.raises(InputError, match="is itself a resend"):
        sends.check_source(conn, resend, news, "news", SLUG)
    unfinished, _, _ = sends.create_send(conn, "another", news, Audience.of("news", ()), VERSION)
    with pytest.raises(InputError, match=r"is not finished \(12 recipient\(s\) pending"):
        sends.check_source(conn, unfinished, news, "news", "another")
