"""Membership status, signups, confirmation and the consent trigger at the data layer."""

from __future__ import annotations

from newsletter.store import consent, transaction
from newsletter.store import subscribers as people
from newsletter.store.consent import ConsentFacts

FACTS = ConsentFacts(source="form", consent_text="Yes please.", consent_sha256="ab" * 32, ip="")
LONG_AGO = "2000-01-01T00:00:00Z"


def signup(conn, list_id, address, *, name="", mail_after=LONG_AGO, now="2026-11-01T10:00:00Z"):
    with transaction(conn):
        return consent.register_signup(conn, list_id, address, name, FACTS, mail_after=mail_after, now=now)


def test_pending_members_are_not_on_the_list_until_confirmed(conn):
    with transaction(conn):
        news = people.save_list(conn, "news", signup=True)
    outcome = signup(conn, news, "Ann@Example.org", name="Ann")
    assert outcome.send_confirmation and outcome.consent_id
    assert people.count_members(conn, news)["pending"] == 1
    summary = people.list_summaries(conn)[0]
    assert (summary["members"], summary["active"], summary["pending"]) == (0, 0, 1)
    assert [r.status for r in people.iter_subscribers(conn, list_id=news)] == ["pending"]
    assert [r.status for r in people.iter_subscribers(conn)] == ["pending"]
    assert people.find_subscriber(conn, "ann@example.org").name == ""  # the name waits for the confirmation

    with transaction(conn):
        assert consent.confirm_signup(conn, outcome.consent_id, now="2026-11-01T10:05:00Z")
        assert not consent.confirm_signup(conn, outcome.consent_id)  # once only
    assert list(people.iter_subscribers(conn, list_id=news, status="active"))[0].name == "Ann"
    record = consent.consents_of(conn, outcome.subscriber_id)[0]
    assert (record["requested_at"], record["confirmed_at"]) == ("2026-11-01T10:00:00Z", "2026-11-01T10:05:00Z")


def test_one_confirmation_per_address_per_interval_and_none_for_members(conn):
    with transaction(conn):
        news = people.save_list(conn, "news", signup=True)
        other = people.save_list(conn, "other", signup=True)
    first = signup(conn, news, "bo@example.org", now="2026-11-01T10:00:00Z")
    again = signup(conn, news, "bo@example.org", mail_after="2026-11-01T09:30:00Z", now="2026-11-01T10:30:00Z")
    elsewhere = signup(conn, other, "bo@example.org", mail_after="2026-11-01T09:40:00Z", now="2026-11-01T10:40:00Z")
    later = signup(conn, news, "bo@example.org", mail_after="2026-11-01T10:45:00Z", now="2026-11-01T11:45:00Z")
    assert [first.send_confirmation, again.send_confirmation, elsewhere.send_confirmation, later.send_confirmation] == [
        True, False, False, True]
    assert again.consent_id == first.consent_id == later.consent_id  # one open record per list, refreshed
    with transaction(conn):
        consent.confirm_signup(conn, first.consent_id)
    member = signup(conn, news, "bo@example.org", now="2026-11-01T12:00:00Z")
    assert (member.consent_id, member.send_confirmation) == (0, False)


def test_suppression_closes_confirmed_records_with_how(conn):
    with transaction(conn):
        news = people.ensure_list(conn, "news")
        ids = {}
        for address, status, reason in [("a@example.org", "unsubscribed", "one-click unsubscribe (unsubscribe-page)"),
                                        ("b@example.org", "bounced", "sendgrid bounce"),
                                        ("c@example.org", "complained", "sendgrid spamreport"),
                                        ("d@example.org", "unsubscribed", "manual")]:
            sid, _, _ = people.upsert_subscriber(conn, address, "", {}, now="2026-01-01T00:00:00Z")
            people.add_membership(conn, news, sid, now="2026-01-01T00:00:00Z")
            ids[address] = (sid, status, reason)
        assert consent.record_joins(conn, news, "import", "people.csv", since="2026-01-01T00:00:00Z") == 4
        for sid, status, reason in ids.values():
            people.set_status(conn, sid, status, reason)
    left = {address: consent.consents_of(conn, sid)[0]["left_how"] for address, (sid, _, _) in ids.items()}
    assert left == {"a@example.org": "one-click", "b@example.org": "bounce", "c@example.org": "complaint",
                    "d@example.org": "manual"}


def test_import_activates_a_pending_member_but_not_one_who_left(conn):
    with transaction(conn):
        news = people.save_list(conn, "news", signup=True)
    pending = signup(conn, news, "p@example.org")
    stayed = signup(conn, news, "q@example.org")
    with transaction(conn):
        consent.confirm_signup(conn, stayed.consent_id)
        consent.leave_lists(conn, stayed.subscriber_id, [news], "preferences")
        assert people.add_membership(conn, news, pending.subscriber_id) == "active"
        assert people.add_membership(conn, news, stayed.subscriber_id) == "unsubscribed"
    assert consent.consents_of(conn, stayed.subscriber_id)[0]["left_how"] == "preferences"
    assert [r.email for r in people.iter_subscribers(conn, list_id=news, status="unsubscribed")] == ["q@example.org"]


def test_purge_removes_stale_signups_and_people_left_with_nothing(conn):
    with transaction(conn):
        news = people.save_list(conn, "news", signup=True)
        other = people.ensure_list(conn, "other")
        kept, _, _ = people.upsert_subscriber(conn, "member@example.org", "", {})
        people.add_membership(conn, other, kept)
    stale = signup(conn, news, "stale@example.org", now="2026-11-01T00:00:00Z")
    member_stale = signup(conn, news, "member@example.org", now="2026-11-01T00:00:00Z")
    fresh = signup(conn, news, "fresh@example.org", now="2026-11-09T00:00:00Z")
    with transaction(conn):
        assert consent.purge_unconfirmed(conn, before="2026-11-08T00:00:00Z") == 2
    assert people.get_subscriber(conn, stale.subscriber_id) is None
    assert people.get_subscriber(conn, member_stale.subscriber_id).status == "active"  # still on 'other'
    assert consent.consents_of(conn, member_stale.subscriber_id) == []
    assert people.count_members(conn, news)["pending"] == 1 and consent.consents_of(conn, fresh.subscriber_id)


def test_erasure_scrubs_every_copy_of_the_address_and_compacts(conn):
    from newsletter.store import privacy

    with transaction(conn):
        list_id = people.ensure_list(conn, "news")
        sid, _, _ = people.upsert_subscriber(conn, "Ann.Erase+x@Example.org", "Ann", {"city": "Oslo"})
        people.add_membership(conn, list_id, sid)
        conn.execute("INSERT INTO events (source, type, subscriber_id, email, occurred_at, raw)"
                     " VALUES ('sendgrid', 'bounce', ?, 'ann.erase+x@example.org', 'now', ?)",
                     (sid, '{"email": "ANN.ERASE+X@example.org", "reason": "550 ann.erase+x@example.org unknown"}'))
        conn.execute("INSERT INTO segments (name, list_id, conditions, created_at, updated_at)"
                     " VALUES ('odd', ?, ?, 'now', 'now')", (list_id, '[["note", "=", "ann.erase+x@example.org"]]'))
    privacy.prepare(conn)
    with transaction(conn):
        placeholder = privacy.erase_person(conn, sid, "hash-of-ann")
    privacy.compact(conn)
    assert placeholder == f"erased-{sid}@erased.invalid" and privacy.is_suppressed(conn, "hash-of-ann")
    for table in conn.dialect.tables(conn):
        for column, may_hold_text in conn.dialect.columns(conn, table):
            if may_hold_text:
                found = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE lower(CAST({column} AS TEXT)) LIKE ?",
                                     ("%ann.erase+x@example.org%",)).fetchone()[0]
                assert found == 0, (table, column)
    assert conn.execute("SELECT conditions FROM segments").fetchone()[0] == '[["note", "=", "[erased]"]]'
