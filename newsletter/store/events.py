"""SQL for provider and tracking events, the stats they add up to, and the
subscriber status changes they cause.

Events are matched to a send and a subscriber inside the INSERT itself
(sub-selects), so an id that no longer exists becomes NULL instead of breaking
the foreign key, and a batch of 1,000 events is a single ``executemany``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from newsletter.store import DB, transaction

#: How bad a status is; an event may only move a subscriber to a worse one, so a
#: late "unsubscribe" never hides an earlier spam complaint.
STATUS_RANK = {"active": 0, "unsubscribed": 1, "bounced": 2, "complained": 3}

_RANK_SQL = "CASE status " + " ".join(f"WHEN '{s}' THEN {r}" for s, r in STATUS_RANK.items()) + " ELSE 9 END"

# Keys are looked up in chunks well under SQLite's bound-variable limit.
_CHUNK = 500


@dataclass(slots=True)
class EventRow:
    """One normalised event ready to store.

    ``send_id``/``subscriber_id`` are the ids the event claims; the store keeps
    them only if they exist. ``email`` is the fallback to find the subscriber.
    ``new_status`` is the subscriber status this event implies, if any.
    """

    source: str
    type: str
    event_key: str | None
    send_id: int | None
    subscriber_id: int | None
    email: str
    url: str
    occurred_at: str
    raw: str
    attempt: int | None = None
    new_status: str | None = None
    status_reason: str = ""
    verdict: str = ""  # opens and clicks: human, machine or unknown (tracking/verdicts.py)
    verdict_reason: str = ""


@dataclass(frozen=True)
class StoreOutcome:
    """What ``store_events`` did with a batch."""

    stored: int
    duplicates: int
    status_changes: int


def utc_now() -> str:
    """Current UTC time as the ISO-8601 string used in every table."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _existing_keys(conn: DB, keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        found.update(r[0] for r in conn.execute(f"SELECT event_key FROM events WHERE event_key IN ({marks})", chunk))
    return found


_INSERT = (
    "INSERT INTO events"
    " (source, event_key, type, send_id, subscriber_id, email, url, occurred_at, raw, attempt, verdict, verdict_reason)"
    " VALUES (?, ?, ?,"
    " (SELECT id FROM sends WHERE id = ?),"
    " COALESCE((SELECT id FROM subscribers WHERE id = ?), (SELECT id FROM subscribers WHERE email_key = ?)),"
    " ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)

_STATUS_UPDATE = (
    "UPDATE subscribers SET status = ?, status_reason = ?, updated_at = ?"
    " WHERE id = COALESCE((SELECT id FROM subscribers WHERE id = ?),"
    "                     (SELECT id FROM subscribers WHERE email_key = ?))"
    f" AND {_RANK_SQL} < ?"
)


#: Page cache of a connection that imports a large event file (KiB; SQLite's default is 2 MB).
IMPORT_CACHE_KIB = 64 * 1024


def prepare_for_import(conn: DB) -> None:
    """Give ``conn`` a page cache large enough for a long import transaction.

    A transaction larger than the cache spills pages to the write-ahead log
    and reads them back; with a million events in one transaction that was a
    quarter of the import's time, in system calls. 64 MB of cache removes most
    of it and keeps the import's memory well under 150 MB.
    """
    if conn.dialect.name == "sqlite":  # PostgreSQL's server manages its own buffers
        conn.execute(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")


def store_events(conn: DB, rows: Iterable[EventRow]) -> StoreOutcome:
    """Store ``rows`` in one transaction of their own (see ``store_event_batch``)."""
    with transaction(conn):
        return store_event_batch(conn, rows)


def store_event_batch(conn: DB, rows: Iterable[EventRow]) -> StoreOutcome:
    """Store ``rows`` inside the caller's transaction, skipping any whose ``event_key`` is known.

    Duplicates (already stored, or repeated within the batch) are skipped
    before the insert, so status changes are applied only for events seen for
    the first time: a retried old bounce cannot undo a later re-subscription.
    The unique ``event_key`` settles the race of two processes storing the
    same event at once (``serve --workers``): one row, and ``stored`` counts
    only the rows actually written. Subscribers are updated in id order (in
    arrival order for each one), so two such processes lock them alike.
    """
    rows = list(rows)
    known = _existing_keys(conn, [r.event_key for r in rows if r.event_key])
    fresh: list[EventRow] = []
    for row in rows:
        if row.event_key:
            if row.event_key in known:
                continue
            known.add(row.event_key)
        fresh.append(row)
    # Counted by what each statement did: a concurrent process may store the same event meanwhile.
    stored = conn.executemany(
        _INSERT,
        [
            (r.source, r.event_key, r.type, r.send_id, r.subscriber_id, r.email.strip().lower(),
             r.email, r.url, r.occurred_at, r.raw, r.attempt, r.verdict, r.verdict_reason)
            for r in fresh
        ],
    ).rowcount if fresh else 0
    # Same order in every process, so two updating the same subscribers cannot deadlock.
    changes = sorted((r for r in fresh if r.new_status), key=lambda r: (r.subscriber_id or 0, r.email))
    status_changes = 0
    if changes:
        now = utc_now()
        status_changes = conn.executemany(
            _STATUS_UPDATE,
            [
                (r.new_status, r.status_reason, now, r.subscriber_id, r.email.strip().lower(),
                 STATUS_RANK[cast(str, r.new_status)])  # set: rows without one were left out above
                for r in changes
            ],
        ).rowcount
    return StoreOutcome(stored=stored, duplicates=len(rows) - stored, status_changes=status_changes)


# --- lookups used by the tracking server ------------------------------------


def send_links(conn: DB, send_id: int) -> list[str] | None:
    """The web links recorded for a send (``sends.links``), or None if no such send."""
    row = conn.execute("SELECT links FROM sends WHERE id = ?", (send_id,)).fetchone()
    if row is None:
        return None
    try:
        links = json.loads(row[0] or "[]")
    except ValueError:
        return []
    return [link for link in links if isinstance(link, str)] if isinstance(links, list) else []


def subscriber_contact(conn: DB, subscriber_id: int) -> tuple[str, str] | None:
    """``(email, status)`` of a subscriber, or None if there is no such subscriber."""
    row = conn.execute("SELECT email, status FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()
    return (row[0], row[1]) if row else None


def unsubscribe_from_page(conn: DB, subscriber_id: int, send_id: int, source: str) -> bool:
    """Unsubscribe a subscriber (if active) and record one event per (send, subscriber).

    Idempotent: repeating it changes nothing. Returns True if the subscriber
    exists (whatever its status was).
    """
    now = utc_now()
    with transaction(conn):
        row = conn.execute("SELECT email FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()
        if row is None:
            return False
        conn.execute(
            f"UPDATE subscribers SET status = 'unsubscribed', status_reason = ?, updated_at = ?"
            f" WHERE id = ? AND {_RANK_SQL} < ?",
            (f"one-click unsubscribe ({source})", now, subscriber_id, STATUS_RANK["unsubscribed"]),
        )
        conn.execute(
            _INSERT,
            (source, f"{source}:{send_id}:{subscriber_id}", "unsubscribe", send_id or None, subscriber_id,
             "", row[0], "", now, json.dumps({"send_id": send_id, "subscriber_id": subscriber_id}), None, "", ""),
        )
    return True


# --- stats -------------------------------------------------------------------


def find_sends(conn: DB, slug: str | None = None) -> list[sqlite3.Row]:
    """Sends (with their list name), all or those of one issue slug, oldest first."""
    sql = (
        "SELECT s.id, s.slug, s.subject, s.backend, s.created_at, COALESCE(l.name, '') AS list_name"
        " FROM sends s LEFT JOIN lists l ON l.id = s.list_id"
    )
    if slug is None:
        return conn.execute(sql + " ORDER BY s.id").fetchall()
    return conn.execute(sql + " WHERE s.slug = ? ORDER BY s.id", (slug,)).fetchall()


#: Event types counted per distinct recipient in ``event_counts``.
COUNTED_TYPES = {
    "delivered": ("delivered",),
    "bounced": ("bounce",),
    "opens": ("open",),
    "clicks": ("click",),
    "unsubscribes": ("unsubscribe", "group_unsubscribe"),
    "spam_reports": ("spamreport",),
}


def event_counts(conn: DB, send_id: int, *, matched: bool | None = None) -> dict[str, int]:
    """Distinct recipients per kind of event (see ``COUNTED_TYPES``) for a send, whatever
    the events' verdicts (``store.engagement.verdict_counts`` counts opens and clicks by verdict).

    Each kind is read from the index on (send_id, type, subscriber_id, ...)
    alone; the few events that matched no subscriber are counted by address
    apart (an id and an address never stand for the same recipient here).
    ``matched``: count only those that matched a subscriber (True) or only the others (False).
    """
    parts: list[str] = []
    params: list[object] = []
    for name, types in COUNTED_TYPES.items():
        where = f"FROM events WHERE send_id = ? AND type IN ({','.join('?' * len(types))})"
        by_id = f"(SELECT COUNT(DISTINCT subscriber_id) {where} AND subscriber_id IS NOT NULL)"
        by_address = f"(SELECT COUNT(DISTINCT lower(email)) {where} AND subscriber_id IS NULL)"
        if matched is None:
            parts.append(f"{by_id} + {by_address} AS {name}")
            params += [send_id, *types, send_id, *types]
        else:
            parts.append(f"{by_id if matched else by_address} AS {name}")
            params += [send_id, *types]
    row = conn.execute(f"SELECT {', '.join(parts)}", params).fetchone()
    return {key: int(row[key]) for key in row.keys()}


def top_links(conn: DB, send_id: int, limit: int = 10) -> list[tuple[str, int, int]]:
    """``(url, clicks, unique clickers)`` of a send's most clicked links (read from the index, as above)."""
    where = "FROM events WHERE send_id = ? AND type = 'click' AND url != ''"
    links = {r[0]: [int(r[1]), int(r[2])] for r in conn.execute(
        f"SELECT url, COUNT(*), COUNT(DISTINCT subscriber_id) {where} GROUP BY url", (send_id,))}
    for url, people in conn.execute(
            f"SELECT url, COUNT(DISTINCT lower(email)) {where} AND subscriber_id IS NULL GROUP BY url", (send_id,)):
        links[url][1] += int(people)
    ranked = sorted(links.items(), key=lambda item: (-item[1][0], item[0]))[:limit]
    return [(url, clicks, people) for url, (clicks, people) in ranked]
