"""SQL for double opt-in signups, consent records, the preference page and
the purge of unconfirmed signups.

A signup makes a 'pending' membership and an unconfirmed consent record
(``method = 'form'``); confirming it makes the membership 'active'. Imports
and ``subscribers add`` write consent records that are confirmed at once.
When a subscriber is suppressed (one-click, bounce, complaint, CLI) the
migration's trigger closes their confirmed records; leaving one list on the
preference page closes that list's records here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from newsletter.store import DB, sequences
from newsletter.store.subscribers import ON_LIST, utcnow


@dataclass(frozen=True)
class ConsentFacts:
    """What a signup form records: how, the sentence agreed to and its hash, the IP as configured."""

    source: str
    consent_text: str
    consent_sha256: str
    ip: str


@dataclass(frozen=True)
class SignupOutcome:
    """What ``register_signup`` did. ``consent_id`` is 0 when the address was already on the list."""

    subscriber_id: int
    consent_id: int
    send_confirmation: bool


def register_signup(
    conn: DB,
    list_id: int,
    email: str,
    name: str,
    facts: ConsentFacts,
    *,
    mail_after: str,
    now: str | None = None,
) -> SignupOutcome:
    """Record a signup as a pending membership and an unconfirmed consent record (call inside a transaction).

    An address already active on the list changes nothing. A repeated signup
    refreshes its unconfirmed record. ``send_confirmation`` is true, and
    ``mailed_at`` set, only if no confirmation went to this address after
    ``mail_after`` (one confirmation per address per interval). The name is
    kept on the record and applied only on confirmation: a stranger cannot
    rename an existing subscriber.
    """
    now = now or utcnow()
    # Two signups of a new address at once (``serve`` on several processes) make one subscriber;
    # the row lock then lets one signup at a time go on for this address.
    conn.execute(
        "INSERT INTO subscribers (email, email_key, name, attributes, status, created_at, updated_at)"
        " VALUES (?, ?, '', '{}', 'active', ?, ?) ON CONFLICT (email_key) DO NOTHING",
        (email, email.lower(), now, now),
    )
    row = conn.execute("SELECT id, status FROM subscribers WHERE email_key = ?" + conn.dialect.lock_rows(),
                       (email.lower(),)).fetchone()
    subscriber_id, subscriber_status = row["id"], row["status"]
    member = conn.execute(
        "SELECT status FROM memberships WHERE list_id = ? AND subscriber_id = ?", (list_id, subscriber_id)
    ).fetchone()
    if member is not None and member["status"] == "active" and subscriber_status == "active":
        return SignupOutcome(subscriber_id, 0, False)
    if member is None:
        conn.execute(
            "INSERT INTO memberships (list_id, subscriber_id, created_at, status, updated_at) VALUES (?, ?, ?, 'pending', ?)",
            (list_id, subscriber_id, now, now),
        )
    elif member["status"] == "unsubscribed":
        conn.execute(
            "UPDATE memberships SET status = 'pending', updated_at = ? WHERE list_id = ? AND subscriber_id = ?",
            (now, list_id, subscriber_id),
        )
    open_record = conn.execute(
        "SELECT id FROM consents WHERE subscriber_id = ? AND list_id = ? AND method = 'form' AND confirmed_at IS NULL",
        (subscriber_id, list_id),
    ).fetchone()
    values = (facts.source, facts.consent_text, facts.consent_sha256, facts.ip, name, now)
    if open_record is None:
        consent_id = conn.execute(
            "INSERT INTO consents (subscriber_id, list_id, method, source, consent_text, consent_sha256, ip, name,"
            " requested_at) VALUES (?, ?, 'form', ?, ?, ?, ?, ?, ?) RETURNING id",
            (subscriber_id, list_id, *values),
        ).fetchone()[0]
    else:
        consent_id = open_record["id"]
        conn.execute(
            "UPDATE consents SET source = ?, consent_text = ?, consent_sha256 = ?, ip = ?, name = ?, requested_at = ?"
            " WHERE id = ?",
            (*values, consent_id),
        )
    last = conn.execute("SELECT MAX(mailed_at) FROM consents WHERE subscriber_id = ?", (subscriber_id,)).fetchone()[0]
    send = last is None or last <= mail_after
    if send:
        conn.execute("UPDATE consents SET mailed_at = ? WHERE id = ?", (now, consent_id))
    return SignupOutcome(subscriber_id, consent_id, send)


def unmark_mailed(conn: DB, consent_id: int) -> None:
    """Clear a record's ``mailed_at`` (its confirmation could not be sent)."""
    conn.execute("UPDATE consents SET mailed_at = NULL WHERE id = ?", (consent_id,))


def pending_record(conn: DB, consent_id: int, subscriber_id: int, list_id: int) -> dict[str, Any] | None:
    """The form consent record a confirm link names, with the address and list title; ``None`` if gone.

    ``subscribed`` says whether the person gets the list now (active, and an
    active member): a record confirmed long ago may belong to someone who left since.
    """
    row = conn.execute(
        "SELECT c.id, c.confirmed_at, s.email, s.email_key, l.name AS list_name, l.title AS list_title,"
        " s.status AS subscriber_status, COALESCE(m.status, '') AS membership_status"
        " FROM consents c JOIN subscribers s ON s.id = c.subscriber_id JOIN lists l ON l.id = c.list_id"
        " LEFT JOIN memberships m ON m.subscriber_id = c.subscriber_id AND m.list_id = c.list_id"
        " WHERE c.id = ? AND c.subscriber_id = ? AND c.list_id = ? AND c.method = 'form'",
        (consent_id, subscriber_id, list_id),
    ).fetchone()
    if row is None:
        return None
    record = dict(row)
    record["subscribed"] = record["subscriber_status"] == "active" and record["membership_status"] == "active"
    return record


def confirm_signup(conn: DB, consent_id: int, *, now: str | None = None) -> bool:
    """Confirm an unconfirmed form record (call inside a transaction); False if it was confirmed already.

    The membership becomes active and the typed name, if any, becomes the
    subscriber's. A suppressed subscriber is reactivated by this, their own
    double opt-in, for this list only: their other memberships, left when they
    unsubscribed from everything, become 'unsubscribed'. The member is enrolled in the list's
    sequences (its welcome email) in the same transaction; someone enrolled before is not again.
    """
    now = now or utcnow()
    record = conn.execute(
        "SELECT c.subscriber_id, c.list_id, c.name, c.confirmed_at, s.status FROM consents c"
        " JOIN subscribers s ON s.id = c.subscriber_id WHERE c.id = ?" + conn.dialect.lock_rows("c"),
        (consent_id,),
    ).fetchone()
    if record is None or record["confirmed_at"] is not None:
        return False
    subscriber_id, list_id = record["subscriber_id"], record["list_id"]
    conn.execute("UPDATE consents SET confirmed_at = ? WHERE id = ?", (now, consent_id))
    if record["status"] != "active":
        conn.execute(
            "UPDATE memberships SET status = 'unsubscribed', updated_at = ?"
            " WHERE subscriber_id = ? AND list_id != ? AND status = 'active'",
            (now, subscriber_id, list_id),
        )
        conn.execute(
            "UPDATE subscribers SET status = 'active', status_reason = 'double opt-in', updated_at = ? WHERE id = ?",
            (now, subscriber_id),
        )
    conn.execute(
        "INSERT INTO memberships (list_id, subscriber_id, created_at, status, updated_at) VALUES (?, ?, ?, 'active', ?)"
        " ON CONFLICT (list_id, subscriber_id) DO UPDATE SET status = 'active', updated_at = excluded.updated_at",
        (list_id, subscriber_id, now, now),
    )
    if record["name"]:
        conn.execute("UPDATE subscribers SET name = ?, updated_at = ? WHERE id = ?", (record["name"], now, subscriber_id))
    sequences.enrol(conn, list_id, subscriber_id, now=now)  # the list's welcome email and sequences, once
    return True


def record_joins(conn: DB, list_id: int, method: str, source: str, since: str) -> int:
    """Write a confirmed consent record for each active member of ``list_id`` who joined or was
    reactivated at ``since`` or later and has no open record for the list; return how many.

    One statement for a whole import, whatever its size (call inside the import's transaction).
    """
    return conn.execute(
        "INSERT INTO consents (subscriber_id, list_id, method, source, requested_at, confirmed_at)"
        " SELECT m.subscriber_id, m.list_id, ?, ?, m.updated_at, m.updated_at"
        " FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id"
        f" WHERE m.list_id = ? AND {ON_LIST} AND m.updated_at >= ?"
        " AND NOT EXISTS (SELECT 1 FROM consents c WHERE c.subscriber_id = m.subscriber_id AND c.list_id = m.list_id"
        "                 AND c.confirmed_at IS NOT NULL AND c.left_at IS NULL)",
        (method, source, list_id, since),
    ).rowcount


# --- the preference page ----------------------------------------------------


def memberships_of(conn: DB, subscriber_id: int) -> list[dict[str, Any]]:
    """Every membership of a subscriber with its list's name, title and signup flag, by list name."""
    rows = conn.execute(
        "SELECT l.id AS list_id, l.name, l.title, l.signup, m.status, m.created_at, m.updated_at"
        " FROM memberships m JOIN lists l ON l.id = m.list_id WHERE m.subscriber_id = ? ORDER BY l.name",
        (subscriber_id,),
    ).fetchall()
    return [{**dict(r), "signup": bool(r["signup"])} for r in rows]


def leave_lists(conn: DB, subscriber_id: int, list_ids: list[int], how: str, *, now: str | None = None) -> int:
    """Take a subscriber off some lists (membership 'unsubscribed', consent records closed); return how many."""
    now = now or utcnow()
    left = 0
    for list_id in list_ids:
        left += conn.execute(
            "UPDATE memberships SET status = 'unsubscribed', updated_at = ?"
            " WHERE subscriber_id = ? AND list_id = ? AND status != 'unsubscribed'",
            (now, subscriber_id, list_id),
        ).rowcount
        conn.execute(
            "UPDATE consents SET left_at = ?, left_how = ? WHERE subscriber_id = ? AND list_id = ? AND left_at IS NULL",
            (now, how, subscriber_id, list_id),
        )
    return left


def rename(conn: DB, subscriber_id: int, name: str, *, now: str | None = None) -> None:
    """Set a subscriber's name."""
    conn.execute("UPDATE subscribers SET name = ?, updated_at = ? WHERE id = ?", (name, now or utcnow(), subscriber_id))


# --- reading and purging ----------------------------------------------------


def consents_of(conn: DB, subscriber_id: int) -> list[dict[str, Any]]:
    """Every consent record of a subscriber with the list's name, oldest first."""
    rows = conn.execute(
        "SELECT c.*, l.name AS list FROM consents c JOIN lists l ON l.id = c.list_id"
        " WHERE c.subscriber_id = ? ORDER BY c.id",
        (subscriber_id,),
    ).fetchall()
    return [dict(r) for r in rows]


def purge_unconfirmed(conn: DB, before: str) -> int:
    """Delete signups not confirmed since ``before``; return how many pending memberships went.

    Their unconfirmed consent records go too, and so does each such
    subscriber who is left with nothing (no membership, record, delivery or
    event). Call inside a transaction.
    """
    stale = conn.execute(
        "SELECT id, subscriber_id, list_id FROM consents WHERE confirmed_at IS NULL AND requested_at < ? ORDER BY id",
        (before,)
    ).fetchall()
    removed = 0
    for record in stale:
        removed += conn.execute(
            "DELETE FROM memberships WHERE list_id = ? AND subscriber_id = ? AND status = 'pending'",
            (record["list_id"], record["subscriber_id"]),
        ).rowcount
        conn.execute("DELETE FROM consents WHERE id = ?", (record["id"],))
    for subscriber_id in {r["subscriber_id"] for r in stale}:
        conn.execute(
            "DELETE FROM subscribers WHERE id = ?"
            " AND NOT EXISTS (SELECT 1 FROM memberships WHERE subscriber_id = ?)"
            " AND NOT EXISTS (SELECT 1 FROM consents WHERE subscriber_id = ?)"
            " AND NOT EXISTS (SELECT 1 FROM deliveries WHERE subscriber_id = ?)"
            " AND NOT EXISTS (SELECT 1 FROM events WHERE subscriber_id = ?)",
            (subscriber_id,) * 5,
        )
    return removed
