"""SQL for bounces read from the bounce mailbox: matching a report to its ledger row,
the soft-bounce rule, suppression decisions, and undoing them (``subscribers reactivate``).

Bounces and complaints themselves are stored as ordinary event rows through
``store.events`` (types ``bounce``, ``spamreport``, ``deferred``; source
``bounce-mailbox``), exactly as SendGrid's are, so ``stats``, the in-doubt
settling and ``subscribers export`` see them with no change.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from newsletter.store import DB, transaction
from newsletter.store.events import STATUS_RANK, utc_now

#: The ``source`` of every event this reader stores.
SOURCE = "bounce-mailbox"

#: Our Message-IDs are ``<send.subscriber.random@domain>`` (delivery/message.py): the ids find the
#: ledger row by its primary key, and the whole Message-ID must then equal the one recorded.
_OUR_MESSAGE_ID = re.compile(r"^<(\d{1,18})\.(\d{1,18})\.[0-9a-f]+@[^>\s]+>$")


@dataclass(frozen=True)
class LedgerRow:
    """The delivery a bounce names: send, subscriber, the subscriber's address key, attempts so far."""

    send_id: int
    subscriber_id: int
    email_key: str
    attempts: int


def seen(conn: DB, event_key: str) -> bool:
    """True if a mailbox message with this key was already recorded (fetching twice changes nothing)."""
    return conn.execute("SELECT 1 FROM events WHERE event_key = ?", (event_key,)).fetchone() is not None


def delivery(conn: DB, send_id: int, subscriber_id: int) -> LedgerRow | None:
    """The ledger row of (send, subscriber), with the subscriber's address key; None if there is none."""
    row = conn.execute(
        "SELECT d.send_id, d.subscriber_id, s.email_key, d.attempts FROM deliveries d"
        " JOIN subscribers s ON s.id = d.subscriber_id WHERE d.send_id = ? AND d.subscriber_id = ?",
        (send_id, subscriber_id),
    ).fetchone()
    return LedgerRow(int(row[0]), int(row[1]), str(row[2]), int(row[3])) if row else None


def delivery_by_message_id(conn: DB, message_id: str) -> LedgerRow | None:
    """The ledger row whose recorded Message-ID is exactly ``message_id``; None if none is."""
    match = _OUR_MESSAGE_ID.match(message_id.strip())
    if not match:
        return None
    send_id, subscriber_id = int(match.group(1)), int(match.group(2))
    row = conn.execute(
        "SELECT d.send_id, d.subscriber_id, s.email_key, d.attempts FROM deliveries d"
        " JOIN subscribers s ON s.id = d.subscriber_id"
        " WHERE d.send_id = ? AND d.subscriber_id = ? AND d.message_id = ?",
        (send_id, subscriber_id, message_id.strip()),
    ).fetchone()
    return LedgerRow(int(row[0]), int(row[1]), str(row[2]), int(row[3])) if row else None


def failures_in_window(conn: DB, subscriber_id: int, window: int) -> tuple[int, int]:
    """``(sends with a bounce, sends looked at)`` over the subscriber's last ``window`` sends that went out.

    A send counts once however many bounces it drew; any bounce event counts
    (this mailbox's or a provider's, temporary or permanent).
    """
    sends = [int(r[0]) for r in conn.execute(
        "SELECT send_id FROM deliveries WHERE subscriber_id = ? AND state IN ('accepted', 'in_doubt')"
        " ORDER BY send_id DESC LIMIT ?", (subscriber_id, window))]
    if not sends:
        return 0, 0
    marks = ",".join("?" * len(sends))
    failed = conn.execute(
        f"SELECT COUNT(DISTINCT send_id) FROM events WHERE subscriber_id = ? AND type = 'bounce' AND send_id IN ({marks})",
        (subscriber_id, *sends),
    ).fetchone()[0]
    return int(failed), len(sends)


def set_event_raw(conn: DB, event_key: str, raw: dict[str, object]) -> None:
    """Replace the stored details of the event ``event_key`` (the soft-bounce decision is known after it is stored)."""
    conn.execute("UPDATE events SET raw = ? WHERE event_key = ?", (json.dumps(raw, separators=(",", ":")), event_key))


_RANK_SQL = "CASE status " + " ".join(f"WHEN '{s}' THEN {r}" for s, r in STATUS_RANK.items()) + " ELSE 9 END"


def suppress(conn: DB, subscriber_id: int, status: str, reason: str) -> bool:
    """Set ``status`` (bounced/complained) with ``reason`` unless the subscriber's status is already as bad."""
    return conn.execute(
        f"UPDATE subscribers SET status = ?, status_reason = ?, updated_at = ? WHERE id = ? AND {_RANK_SQL} < ?",
        (status, reason, utc_now(), subscriber_id, STATUS_RANK[status]),
    ).rowcount > 0


def status_reason(conn: DB, subscriber_id: int) -> str:
    """Why the subscriber has their status (the bounce's code and diagnostic, a complaint, ...)."""
    row = conn.execute("SELECT status_reason FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()
    return str(row[0] or "") if row else ""


def decisions_of(conn: DB, subscriber_id: int, limit: int = 20) -> list[dict[str, object]]:
    """The subscriber's latest bounce, complaint and delay events (any source), newest first."""
    rows = conn.execute(
        "SELECT source, type, send_id, occurred_at, raw FROM events WHERE subscriber_id = ?"
        " AND type IN ('bounce', 'spamreport', 'deferred', 'reactivate') ORDER BY occurred_at DESC, id DESC LIMIT ?",
        (subscriber_id, limit),
    ).fetchall()
    out: list[dict[str, object]] = []
    for source, kind, send_id, occurred_at, raw in rows:
        try:
            details = json.loads(raw or "{}")
        except ValueError:
            details = {}
        details = details if isinstance(details, dict) else {}
        out.append({"at": occurred_at, "source": source, "type": kind, "send_id": send_id,
                    "class": str(details.get("bounce_class") or details.get("type") or ""),
                    "status": str(details.get("status") or ""),
                    "diagnostic": str(details.get("diagnostic") or details.get("reason") or "")[:200],
                    "decision": str(details.get("decision") or "")})
    return out


def reactivate(conn: DB, email_key: str, allowed: tuple[str, ...]) -> tuple[int, str] | None:
    """Make a subscriber whose status is one of ``allowed`` active again; ``(id, previous status)``.

    None if there is no such subscriber. The consent records the suppression
    closed (``left_how`` bounce/complaint: not the person's own leaving) are
    opened again, and a ``reactivate`` event records who did it and when.
    """
    with transaction(conn):
        row = conn.execute("SELECT id, status, email FROM subscribers WHERE email_key = ?", (email_key,)).fetchone()
        if row is None:
            return None
        subscriber_id, status, email = int(row[0]), str(row[1]), str(row[2])
        if status not in allowed:
            return subscriber_id, status
        now = utc_now()
        conn.execute("UPDATE subscribers SET status = 'active', status_reason = 'reactivated', updated_at = ?"
                     " WHERE id = ?", (now, subscriber_id))
        left_how = {"bounced": "bounce", "complained": "complaint"}.get(status, "")
        conn.execute("UPDATE consents SET left_at = NULL, left_how = '', left_detail = ''"
                     " WHERE subscriber_id = ? AND left_how = ?", (subscriber_id, left_how))
        conn.execute(
            "INSERT INTO events (source, event_key, type, subscriber_id, email, occurred_at, raw)"
            " VALUES ('cli', NULL, 'reactivate', ?, ?, ?, ?)",
            (subscriber_id, email, now, json.dumps({"previous_status": status})),
        )
    return subscriber_id, status
