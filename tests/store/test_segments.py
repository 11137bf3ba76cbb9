"""Segment conditions as SQL, matched against stored subscribers."""

from __future__ import annotations

import pytest

from newsletter.store import segments, transaction
from newsletter.store import subscribers as people
from newsletter.store.segments import Condition

PEOPLE = [
    ("oslo-red@example.org", {"city": "Oslo", "team": "red"}),
    ("oslo-blue@example.org", {"city": "Oslo", "team": "blue"}),
    ("oslo-none@example.org", {"city": "Oslo"}),
    ("bergen@example.org", {"city": "Bergen", "team": "red"}),
    ("bare@example.org", {}),
    ("odd@example.org", {"home town": "Tromsø", "a.b": "dotted", "level": 3}),
]


@pytest.fixture
def news(conn):
    """List 'news' with PEOPLE, plus members that must never match: pending, unsubscribed, on another list."""
    with transaction(conn):
        news = people.ensure_list(conn, "news")
        other = people.ensure_list(conn, "other")
        for address, attributes in PEOPLE:
            sid, _, _ = people.upsert_subscriber(conn, address, "", attributes)
            people.add_membership(conn, news, sid)
        gone, _, _ = people.upsert_subscriber(conn, "gone@example.org", "", {"city": "Oslo"})
        people.add_membership(conn, news, gone)
        people.set_status(conn, gone, "unsubscribed")
        waiting, _, _ = people.upsert_subscriber(conn, "waiting@example.org", "", {"city": "Oslo"})
        conn.execute("INSERT INTO memberships (list_id, subscriber_id, created_at, status) VALUES (?, ?, '', 'pending')",
                     (news, waiting))
        elsewhere, _, _ = people.upsert_subscriber(conn, "elsewhere@example.org", "", {"city": "Oslo"})
        people.add_membership(conn, other, elsewhere)
    return news


def matching(conn, list_id, *conditions) -> set[str]:
    found = {email for _, email in segments.iter_matching(conn, list_id, list(conditions), page=2)}
    assert segments.count_matching(conn, list_id, list(conditions)) == len(found)
    return found


def test_equal_matches_only_active_members_of_the_list(conn, news):
    assert matching(conn, news, Condition("city", "=", "Oslo")) == {
        "oslo-red@example.org", "oslo-blue@example.org", "oslo-none@example.org"}


def test_all_conditions_must_hold_and_not_equal_includes_missing(conn, news):
    assert matching(conn, news, Condition("city", "=", "Oslo"), Condition("team", "!=", "red")) == {
        "oslo-blue@example.org", "oslo-none@example.org"}
    assert matching(conn, news, Condition("team", "!=", "red")) == {
        "oslo-blue@example.org", "oslo-none@example.org", "bare@example.org", "odd@example.org"}


def test_values_compare_exactly_as_text(conn, news):
    assert matching(conn, news, Condition("city", "=", "oslo")) == set()
    assert matching(conn, news, Condition("level", "=", "3")) == {"odd@example.org"}  # a JSON number, as text


def test_keys_with_blanks_dots_and_unicode(conn, news):
    assert matching(conn, news, Condition("home town", "=", "Tromsø")) == {"odd@example.org"}
    assert matching(conn, news, Condition("a.b", "=", "dotted")) == {"odd@example.org"}
    assert matching(conn, news, Condition("a", "=", "dotted")) == set()


def test_where_sql_is_a_fragment_with_parameters_only(conn, news):
    hostile = Condition("city", "=", "x' OR 1=1 --")
    sql, params = segments.where_sql([hostile])
    assert "OR 1=1" not in sql and hostile.value in params
    assert matching(conn, news, hostile) == set()
    assert segments.where_sql([]) == ("1 = 1", [])
    with pytest.raises(ValueError):
        segments.where_sql([Condition("city", "<", "x")])


def test_saved_segments_round_trip(conn, news):
    with transaction(conn):
        assert segments.save_segment(conn, "oslo", news, [Condition("city", "=", "Oslo")]) == "created"
        assert segments.save_segment(conn, "oslo", news, [Condition("city", "=", "Oslo"),
                                                          Condition("team", "=", "red")]) == "updated"
    saved = segments.get_segment(conn, "oslo")
    assert saved["list"] == "news" and saved["conditions"] == [Condition("city", "=", "Oslo"), Condition("team", "=", "red")]
    assert matching(conn, news, *saved["conditions"]) == {"oslo-red@example.org"}
    assert [s["name"] for s in segments.list_segments(conn)] == ["oslo"]
    assert segments.get_segment(conn, "nope") is None
