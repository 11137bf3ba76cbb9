"""SQL for subscribers, lists and memberships.

Emails are unique case-insensitively through ``email_key`` (the lower-cased
address). A suppressed status (unsubscribed, bounced, complained) is never
turned back into 'active' by these functions: only ``set_status`` changes a
status, and callers decide when that is allowed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from newsletter.store import DB

STATUSES = ("active", "unsubscribed", "bounced", "complained")
SUPPRESSED = ("unsubscribed", "bounced", "complained")
#: A membership's own status: 'pending' until confirmed (double opt-in),
#: 'unsubscribed' once the person left that one list.
MEMBERSHIP_STATUSES = ("pending", "active", "unsubscribed")
#: What listings show: a subscriber's status, or 'pending' for an unconfirmed membership.
LISTED_STATUSES = STATUSES + ("pending",)
#: The SQL condition for "on the list, gets issues" over memberships ``m`` and subscribers ``s``.
ON_LIST = "m.status = 'active' AND s.status = 'active'"

#: A member's listed status on one list (memberships ``m``, subscribers ``s``).
_MEMBER_STATUS = (
    "CASE WHEN m.status = 'pending' THEN 'pending' WHEN s.status != 'active' THEN s.status ELSE m.status END"
)
#: A subscriber's listed status over all lists: suppressed, else active on some
#: list (or on none at all), else pending somewhere, else left every list.
_OVERALL_STATUS = (
    "CASE WHEN s.status != 'active' THEN s.status"
    " WHEN EXISTS (SELECT 1 FROM memberships a WHERE a.subscriber_id = s.id AND a.status = 'active')"
    "   OR NOT EXISTS (SELECT 1 FROM memberships a WHERE a.subscriber_id = s.id) THEN 'active'"
    " WHEN EXISTS (SELECT 1 FROM memberships a WHERE a.subscriber_id = s.id AND a.status = 'pending') THEN 'pending'"
    " ELSE 'unsubscribed' END"
)


def utcnow() -> str:
    """The current UTC time as stored in the database ('2026-11-24T08:29:00Z')."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class SubscriberRow:
    """One subscriber as stored."""

    id: int
    email: str
    name: str
    status: str
    attributes: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (``subscribers list --json``)."""
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "status": self.status,
            "attributes": self.attributes,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def _row(r: sqlite3.Row) -> SubscriberRow:
    return SubscriberRow(
        id=r["id"],
        email=r["email"],
        name=r["name"],
        status=r["status"],
        attributes=json.loads(r["attributes"] or "{}"),
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


# --- lists --------------------------------------------------------------------


def find_list(conn: DB, name: str) -> int | None:
    """The id of list ``name``, or ``None``."""
    row = conn.execute("SELECT id FROM lists WHERE name = ?", (name,)).fetchone()
    return row[0] if row else None


def ensure_list(conn: DB, name: str) -> int:
    """The id of list ``name``, creating it (call inside a transaction)."""
    found = find_list(conn, name)
    if found is not None:
        return found
    conn.execute("INSERT INTO lists (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", (name, utcnow()))
    made = find_list(conn, name)
    assert made is not None  # just made, by us or a process beside us
    return made


def get_list(conn: DB, name: str) -> dict[str, Any] | None:
    """List ``name`` as ``{id, name, title, signup, created_at}``, or ``None``."""
    row = conn.execute("SELECT id, name, title, signup, created_at FROM lists WHERE name = ?", (name,)).fetchone()
    return {**dict(row), "signup": bool(row["signup"])} if row else None


def save_list(conn: DB, name: str, *, title: str | None = None, signup: bool | None = None) -> int:
    """Create list ``name`` or change its title/signup flag (``None``: leave as is); return its id."""
    list_id = ensure_list(conn, name)
    if title is not None:
        conn.execute("UPDATE lists SET title = ? WHERE id = ?", (title, list_id))
    if signup is not None:
        conn.execute("UPDATE lists SET signup = ? WHERE id = ?", (int(signup), list_id))
    return list_id


def list_summaries(conn: DB) -> list[dict[str, Any]]:
    """Every list with its title, signup flag, member count (confirmed memberships),
    count of active members (those who get issues) and count of pending signups."""
    rows = conn.execute(
        "SELECT l.name, l.title, l.signup, l.created_at,"
        " COUNT(*) FILTER (WHERE m.status = 'active') AS members,"
        f" COUNT(*) FILTER (WHERE {ON_LIST}) AS active,"
        " COUNT(*) FILTER (WHERE m.status = 'pending') AS pending"
        " FROM lists l LEFT JOIN memberships m ON m.list_id = l.id"
        " LEFT JOIN subscribers s ON s.id = m.subscriber_id"
        " GROUP BY l.id ORDER BY l.name"
    ).fetchall()
    return [{**dict(r), "signup": bool(r["signup"])} for r in rows]


def count_members(conn: DB, list_id: int) -> dict[str, int]:
    """Members of a list by listed status (every one of ``LISTED_STATUSES`` present, zero if none)."""
    counts = {status: 0 for status in LISTED_STATUSES}
    for status, n in conn.execute(
        f"SELECT {_MEMBER_STATUS} AS listed, COUNT(*) FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id"
        " WHERE m.list_id = ? GROUP BY listed",
        (list_id,),
    ):
        counts[status] = n
    return counts


# --- subscribers --------------------------------------------------------------


def find_subscriber(conn: DB, email: str) -> SubscriberRow | None:
    """The subscriber with this address (any case), or ``None``."""
    row = conn.execute("SELECT * FROM subscribers WHERE email_key = ?", (email.lower(),)).fetchone()
    return _row(row) if row else None


def get_subscriber(conn: DB, subscriber_id: int) -> SubscriberRow | None:
    """The subscriber with this id, or ``None``."""
    row = conn.execute("SELECT * FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()
    return _row(row) if row else None


def upsert_subscriber(
    conn: DB,
    email: str,
    name: str,
    attributes: dict[str, Any],
    *,
    now: str | None = None,
) -> tuple[int, str, str]:
    """Insert or update one subscriber; return ``(id, 'added'|'updated', status)``.

    An existing subscriber keeps their status (a suppressed address stays
    suppressed); a non-empty ``name`` replaces theirs and ``attributes`` are
    merged over theirs. Call inside a transaction.
    """
    now = now or utcnow()
    key = email.lower()
    row = conn.execute("SELECT id, name, attributes, status FROM subscribers WHERE email_key = ?", (key,)).fetchone()
    if row is None:
        new_id = conn.execute(
            "INSERT INTO subscribers (email, email_key, name, attributes, status, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, 'active', ?, ?) RETURNING id",
            (email, key, name, json.dumps(attributes, ensure_ascii=False), now, now),
        ).fetchone()[0]
        return new_id, "added", "active"
    merged = {**json.loads(row["attributes"] or "{}"), **attributes}
    conn.execute(
        "UPDATE subscribers SET name = ?, attributes = ?, updated_at = ? WHERE id = ?",
        (name or row["name"], json.dumps(merged, ensure_ascii=False), now, row["id"]),
    )
    return row["id"], "updated", row["status"]


def add_membership(conn: DB, list_id: int, subscriber_id: int, *, now: str | None = None) -> str:
    """Put a subscriber on a list as 'active'; return the membership's status afterwards.

    A pending signup becomes active (the team vouches for this address); a
    member who left the list on the preference page stays 'unsubscribed'.
    """
    now = now or utcnow()
    row = conn.execute(
        "INSERT INTO memberships (list_id, subscriber_id, created_at, status, updated_at) VALUES (?, ?, ?, 'active', ?)"
        " ON CONFLICT (list_id, subscriber_id) DO UPDATE SET status = 'active', updated_at = excluded.updated_at"
        " WHERE memberships.status = 'pending'"
        " RETURNING status",
        (list_id, subscriber_id, now, now),
    ).fetchone()
    if row is not None:
        return row[0]
    found = conn.execute(
        "SELECT status FROM memberships WHERE list_id = ? AND subscriber_id = ?", (list_id, subscriber_id)
    ).fetchone()
    return found[0]


def set_status(conn: DB, subscriber_id: int, status: str, reason: str = "") -> None:
    """Change a subscriber's status (e.g. to 'unsubscribed')."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    conn.execute(
        "UPDATE subscribers SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?",
        (status, reason, utcnow(), subscriber_id),
    )


def iter_subscribers(
    conn: DB,
    *,
    list_id: int | None = None,
    status: str | None = None,
    page: int = 1000,
) -> Iterator[SubscriberRow]:
    """Subscribers in id order, optionally of one list and one listed status, streamed in pages.

    ``status`` of each row is the listed status (see ``LISTED_STATUSES``): on a
    list, a pending signup shows 'pending' and a member who left it
    'unsubscribed'; only 'active' rows get issues.
    """
    after = 0
    listed = _OVERALL_STATUS if list_id is None else _MEMBER_STATUS
    while True:
        where: list[str] = ["s.id > ?"]
        params: list[int | str] = [after]
        join = ""
        if list_id is not None:
            join = " JOIN memberships m ON m.subscriber_id = s.id AND m.list_id = ?"
            params.insert(0, list_id)
        if status is not None:
            where.append(f"({listed}) = ?")
            params.append(status)
        rows = conn.execute(
            f"SELECT s.*, {listed} AS listed FROM subscribers s{join} WHERE {' AND '.join(where)} ORDER BY s.id LIMIT ?",
            (*params, page),
        ).fetchall()
        if not rows:
            return
        for r in rows:
            row = _row(r)
            row.status = r["listed"]
            yield row
        after = rows[-1]["id"]


# --- bulk import --------------------------------------------------------------


@dataclass
class BatchCounts:
    """What ``import_batch`` did with one batch of rows."""

    added: int = 0
    updated: int = 0
    suppressed: int = 0
    duplicates: int = 0


def first_names_of_send(conn: DB, send_id: int) -> dict[int, str]:
    """Subscriber id -> the ``first_name`` attribute, for the recipients of send ``send_id`` that have one
    (an import keeps it only where it is not the first word of the name, so this is usually small)."""
    value = conn.dialect.json_text_literal("s.attributes", "first_name")
    rows = conn.execute(
        f"SELECT d.subscriber_id, {value} FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
        " WHERE d.send_id = ? AND s.attributes LIKE '%first_name%'",
        (send_id,),
    ).fetchall()
    return {int(r[0]): str(r[1]) for r in rows if r[1]}


def last_subscriber_id(conn: DB) -> int:
    """The highest subscriber id so far (0 if none)."""
    return conn.execute("SELECT COALESCE(MAX(id), 0) FROM subscribers").fetchone()[0]


_UPSERT = (
    "INSERT INTO subscribers (email, email_key, name, attributes, status, created_at, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, 'active', ?5, ?5)"
    " ON CONFLICT (email_key) DO UPDATE SET"
    "  name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE subscribers.name END,"
    "  attributes = CASE WHEN excluded.attributes = '{}' THEN subscribers.attributes"
    "               ELSE json_patch(subscribers.attributes, excluded.attributes) END,"
    "  updated_at = excluded.updated_at"
)


class BulkImport:
    """Writes one import's rows in batches, inside the import's single transaction.

    Same rules as ``upsert_subscriber`` (a suppressed status stays, a
    non-empty name replaces, attributes merge), a few statements a batch.
    Counts need to know which subscribers this import already touched: those
    it added have ids above ``added_after`` (SQLite gives a new row the
    highest rowid plus one), and those that were there before are marked in a
    bitmap of ids, an eighth of a byte per subscriber, so memory stays flat.
    """

    def __init__(self, conn: DB, list_name: str) -> None:
        self.conn = conn
        self.list_id = ensure_list(conn, list_name)
        self.added_after = last_subscriber_id(conn)
        self.now = utcnow()
        self._seen = bytearray(self.added_after // 8 + 1)  # bit per subscriber id present before the import

    def write(self, rows: Sequence[tuple[str, str, str, dict[str, str]]]) -> BatchCounts:
        """Upsert ``(email, email_key, name, attributes)`` rows (distinct keys) and put them on the list."""
        import orjson  # a tenth of the time of json.dumps for the attributes of every row

        conn, now = self.conn, self.now
        before = last_subscriber_id(conn)
        existing: list[tuple[int, str]] = []  # (id, status) of subscribers present before the import
        if self.added_after:  # an import into an empty database has none: skip the look-up
            keys = orjson.dumps([key for _, key, _, _ in rows]).decode()
            existing = conn.execute(
                "SELECT id, status FROM subscribers WHERE email_key IN (SELECT value FROM json_each(?)) AND id <= ?",
                (keys, self.added_after),
            ).fetchall()
        conn.executemany(
            _UPSERT,
            [(email, key, name, orjson.dumps(attributes).decode(), now) for email, key, name, attributes in rows],
        )
        after = last_subscriber_id(conn)
        # New subscribers have the ids just above ``before``; the others were looked up above.
        conn.execute(
            "INSERT OR IGNORE INTO memberships (list_id, subscriber_id, created_at, status, updated_at)"
            " SELECT ?, id, ?, 'active', ? FROM subscribers WHERE id > ? AND id <= ?",
            (self.list_id, now, now, before, after),
        )
        first_time = []
        for sid, status in existing:
            byte, bit = sid >> 3, 1 << (sid & 7)
            if not self._seen[byte] & bit:
                self._seen[byte] |= bit
                first_time.append((sid, status))
        # As ``add_membership``: a pending signup becomes active (the team vouches for the
        # address); a member who left the list stays 'unsubscribed' and counts as suppressed.
        conn.executemany(
            "INSERT INTO memberships (list_id, subscriber_id, created_at, status, updated_at) VALUES (?, ?, ?, 'active', ?)"
            " ON CONFLICT (list_id, subscriber_id) DO UPDATE SET status = 'active', updated_at = excluded.updated_at"
            " WHERE memberships.status = 'pending'",
            [(self.list_id, sid, now, now) for sid, _ in first_time],
        )
        left = {
            row[0] for row in conn.execute(
                "SELECT subscriber_id FROM memberships WHERE list_id = ? AND status != 'active'"
                " AND subscriber_id IN (SELECT value FROM json_each(?))",
                (self.list_id, orjson.dumps([sid for sid, _ in first_time]).decode()),
            )
        } if first_time else set()
        suppressed = sum(1 for sid, status in first_time if status != "active" or sid in left)
        return BatchCounts(
            added=after - before,
            updated=len(first_time) - suppressed,
            suppressed=suppressed,
            duplicates=len(rows) - (after - before) - len(first_time),
        )
