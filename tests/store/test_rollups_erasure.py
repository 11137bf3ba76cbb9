"""Erasure reaches the dashboard's roll-ups: no per-recipient fact or per-domain count keeps the person's domain."""

from __future__ import annotations

from newsletter.store import events as event_store
from newsletter.store import ledger, privacy, rollups, sends, transaction
from newsletter.store import subscribers as people
from newsletter.store.segments import Audience
from newsletter.store.sends import SendVersion

PRIVATE = "family-smith.example"  # a domain of one person: counted under it, they are named by it


def _domains(conn, send_id: int) -> set[str]:
    facts = {r[0] for r in conn.execute("SELECT domain FROM send_recipient_facts WHERE send_id = ?", (send_id,))}
    counts = {r[0] for r in conn.execute("SELECT domain FROM send_domain_counts WHERE send_id = ?", (send_id,))}
    return facts | counts


def test_erasure_drops_the_person_from_the_rollups_and_a_catch_up_counts_them_anonymously(conn):
    with transaction(conn):
        list_id = people.ensure_list(conn, "news")
        for email in (f"ann@{PRIVATE}", "bob@example.org"):
            sid, _, _ = people.upsert_subscriber(conn, email, "", {})
            people.add_membership(conn, list_id, sid)
    send_id, size, _ = sends.create_send(conn, "x", list_id, Audience("news"), SendVersion("h", "S", [], "sendgrid"))
    assert size == 2
    ann = people.find_subscriber(conn, f"ann@{PRIVATE}").id
    rows = [event_store.EventRow(source="sendgrid", type="delivered", event_key=f"d{sid}", send_id=send_id,
                                 subscriber_id=sid, email="", url="", occurred_at="2026-12-01T09:00:00Z", raw="{}")
            for sid, *_ in conn.execute("SELECT subscriber_id FROM deliveries WHERE send_id = ?", (send_id,))]
    with transaction(conn):
        event_store.store_event_batch(conn, rows)
    rollups.catch_up(conn, send_id)
    assert PRIVATE in _domains(conn, send_id)  # the roll-up did name the domain

    with transaction(conn):
        privacy.erase_person(conn, ann, "hash-of-ann")
    assert PRIVATE not in _domains(conn, send_id)
    rollups.catch_up(conn, send_id)
    assert PRIVATE not in _domains(conn, send_id)
    delivered = dict(conn.execute("SELECT domain, n FROM send_domain_counts WHERE send_id = ? AND what = 'delivered'",
                                  (send_id,)).fetchall())
    assert delivered == {"example.org": 1, "erased.invalid": 1}  # still counted, under no one's domain
    assert ledger.counts(conn, send_id)["queued"] == 2  # the ledger itself is untouched
