"""The subscribers/lists data layer."""

from __future__ import annotations

from newsletter.store import subscribers as store
from newsletter.store import transaction


def test_email_is_unique_case_insensitively_and_status_survives_upsert(conn):
    with transaction(conn):
        list_id = store.ensure_list(conn, "news")
        sid, action, status = store.upsert_subscriber(conn, "Ann@Example.org", "Ann", {"city": "Oslo"})
        store.add_membership(conn, list_id, sid)
        store.set_status(conn, sid, "bounced", "hard bounce")
        again, action2, status2 = store.upsert_subscriber(conn, "ann@example.org", "", {"team": "red"})
        store.add_membership(conn, list_id, again)
    assert (action, status) == ("added", "active")
    assert (again, action2, status2) == (sid, "updated", "bounced")
    row = store.find_subscriber(conn, "ANN@EXAMPLE.ORG")
    assert row.status == "bounced" and row.name == "Ann"
    assert row.attributes == {"city": "Oslo", "team": "red"}
    assert store.count_members(conn, list_id)["bounced"] == 1


def test_iter_subscribers_streams_in_pages_with_filters(conn):
    with transaction(conn):
        a = store.ensure_list(conn, "a")
        store.ensure_list(conn, "b")
        for i in range(25):
            sid, _, _ = store.upsert_subscriber(conn, f"p{i}@example.org", "", {})
            if i % 2 == 0:
                store.add_membership(conn, a, sid)
            if i % 5 == 0:
                store.set_status(conn, sid, "unsubscribed")
    rows = list(store.iter_subscribers(conn, list_id=a, page=4))
    assert [r.email for r in rows] == [f"p{i}@example.org" for i in range(0, 25, 2)]
    active = list(store.iter_subscribers(conn, list_id=a, status="active", page=3))
    assert len(active) == 13 - 3  # 0, 10, 20 are unsubscribed
    summaries = {s["name"]: s for s in store.list_summaries(conn)}
    assert summaries["a"]["members"] == 13 and summaries["a"]["active"] == 10
    assert summaries["b"]["members"] == 0
