"""SQL for sends and the per-recipient delivery journal.

The journal is what makes a send exactly-once: a recipient's ``deliveries``
row is inserted as 'sending' (in the same transaction that picks the
recipients, so their status is re-checked at that moment) *before* the batch
goes out, and set to accepted / failed / in_doubt after the provider answers.
A recipient with any row for a send is never picked again by ``claim_new``;
only an explicit ``claim_existing`` (retry failed, resend in doubt) sends
again. Rows still 'sending' when a run starts belong to a killed run and
become 'in_doubt'.

The counters on ``sends`` (recipients, accepted, failed, in_doubt, skipped)
are kept up to date incrementally inside the same transactions and
recomputed from the journal by ``refresh_send``.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable, Sequence

from newsletter.store import transaction
from newsletter.store.subscribers import utcnow

STATES = ("sending", "accepted", "failed", "in_doubt", "skipped")
#: Journal states counted on the ``sends`` row, with their column.
_COUNTED = {"accepted": "accepted", "failed": "failed", "in_doubt": "in_doubt", "skipped": "skipped"}


def find_send(conn: sqlite3.Connection, slug: str, list_id: int) -> dict[str, Any] | None:
    """The send of issue ``slug`` to list ``list_id``, or ``None``."""
    row = conn.execute("SELECT * FROM sends WHERE slug = ? AND list_id = ?", (slug, list_id)).fetchone()
    return dict(row) if row else None


def get_send(conn: sqlite3.Connection, send_id: int) -> dict[str, Any] | None:
    """The send with this id, or ``None``."""
    row = conn.execute("SELECT * FROM sends WHERE id = ?", (send_id,)).fetchone()
    return dict(row) if row else None


def create_send(
    conn: sqlite3.Connection,
    *,
    slug: str,
    html_sha256: str,
    list_id: int,
    backend: str,
    subject: str,
    links: Sequence[str],
) -> int:
    """Insert a 'planned' send and return its id."""
    with transaction(conn):
        return conn.execute(
            "INSERT INTO sends (slug, html_sha256, list_id, backend, subject, links, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (slug, html_sha256, list_id, backend, subject, json.dumps(list(links)), utcnow()),
        ).lastrowid


def update_send_version(
    conn: sqlite3.Connection, send_id: int, *, html_sha256: str, subject: str, links: Sequence[str], backend: str
) -> None:
    """Record a changed issue (``--allow-changed``) or backend on an existing send."""
    with transaction(conn):
        conn.execute(
            "UPDATE sends SET html_sha256 = ?, subject = ?, links = ?, backend = ? WHERE id = ?",
            (html_sha256, subject, json.dumps(list(links)), backend, send_id),
        )


def delete_send_if_empty(conn: sqlite3.Connection, send_id: int) -> bool:
    """Remove a send that has no journal rows (nothing was ever sent); return whether it did."""
    with transaction(conn):
        if conn.execute("SELECT 1 FROM deliveries WHERE send_id = ? LIMIT 1", (send_id,)).fetchone():
            return False
        conn.execute("DELETE FROM sends WHERE id = ?", (send_id,))
        return True


def delivery_counts(conn: sqlite3.Connection, send_id: int) -> dict[str, int]:
    """Journal rows of a send by state (every state present)."""
    counts = {state: 0 for state in STATES}
    for state, n in conn.execute(
        "SELECT state, COUNT(*) FROM deliveries WHERE send_id = ? GROUP BY state", (send_id,)
    ):
        counts[state] = n
    return counts


def refresh_send(conn: sqlite3.Connection, send_id: int, *, status: str | None = None, finished: bool = False) -> dict[str, int]:
    """Recompute a send's counters from its journal, optionally set its status; return the counts."""
    with transaction(conn):
        counts = delivery_counts(conn, send_id)
        conn.execute(
            "UPDATE sends SET recipients = ?, accepted = ?, failed = ?, in_doubt = ?, skipped = ?,"
            " status = COALESCE(?, status), finished_at = CASE WHEN ? THEN ? ELSE finished_at END WHERE id = ?",
            (
                sum(counts.values()),
                counts["accepted"],
                counts["failed"],
                counts["in_doubt"] + counts["sending"],
                counts["skipped"],
                status,
                finished,
                utcnow(),
                send_id,
            ),
        )
    return counts


def start_run(conn: sqlite3.Connection, send_id: int) -> int:
    """Mark the send 'sending' and turn rows a killed run left 'sending' into 'in_doubt'; return how many."""
    with transaction(conn):
        stale = conn.execute(
            "UPDATE deliveries SET state = 'in_doubt', error = 'process stopped while this batch was being sent',"
            " updated_at = ? WHERE send_id = ? AND state = 'sending'",
            (utcnow(), send_id),
        ).rowcount
        conn.execute(
            "UPDATE sends SET status = 'sending', started_at = COALESCE(started_at, ?) WHERE id = ?",
            (utcnow(), send_id),
        )
    refresh_send(conn, send_id)
    return stale


def pending_counts(conn: sqlite3.Connection, send_id: int, list_id: int) -> tuple[int, int]:
    """``(to_send, suppressed)``: list members with no journal row, active and not active."""
    row = conn.execute(
        "SELECT COALESCE(SUM(s.status = 'active'), 0), COALESCE(SUM(s.status != 'active'), 0)"
        " FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id"
        " WHERE m.list_id = ? AND NOT EXISTS"
        " (SELECT 1 FROM deliveries d WHERE d.send_id = ? AND d.subscriber_id = m.subscriber_id)",
        (list_id, send_id),
    ).fetchone()
    return int(row[0]), int(row[1])


def count_active_members(conn: sqlite3.Connection, list_id: int) -> tuple[int, int]:
    """``(active, suppressed)`` members of a list (the plan of a send not yet created)."""
    row = conn.execute(
        "SELECT COALESCE(SUM(s.status = 'active'), 0), COALESCE(SUM(s.status != 'active'), 0)"
        " FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id WHERE m.list_id = ?",
        (list_id,),
    ).fetchone()
    return int(row[0]), int(row[1])


def claim_new(
    conn: sqlite3.Connection, send_id: int, list_id: int, *, after_id: int, limit: int, batch: int
) -> list[tuple[int, str, str]]:
    """Pick the next ``limit`` active members with no journal row (ids above ``after_id``) and journal them 'sending'.

    Returns ``[(subscriber_id, email, name)]`` in id order. Picking and
    journaling happen in one transaction, so a subscriber who unsubscribed a
    moment ago is not picked, and no two runs can pick the same recipient.
    """
    with transaction(conn):
        # INSERT ... SELECT journals the batch in one statement; the rows are
        # then read back by their batch number from the same id range.
        claimed = conn.execute(
            "INSERT INTO deliveries (send_id, subscriber_id, state, batch, updated_at)"
            " SELECT ?, m.subscriber_id, 'sending', ?, ? FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id"
            " WHERE m.list_id = ? AND m.subscriber_id > ? AND s.status = 'active' AND NOT EXISTS"
            " (SELECT 1 FROM deliveries d WHERE d.send_id = ? AND d.subscriber_id = m.subscriber_id)"
            " ORDER BY m.subscriber_id LIMIT ?",
            (send_id, batch, utcnow(), list_id, after_id, send_id, limit),
        ).rowcount
        if not claimed:
            return []
        rows = conn.execute(
            "SELECT s.id, s.email, s.name FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
            " WHERE d.send_id = ? AND d.subscriber_id > ? AND d.batch = ? AND d.state = 'sending'"
            " ORDER BY d.subscriber_id",
            (send_id, after_id, batch),
        ).fetchall()
        conn.execute("UPDATE sends SET recipients = recipients + ? WHERE id = ?", (len(rows), send_id))
    return [(r[0], r[1], r[2]) for r in rows]


def claim_existing(
    conn: sqlite3.Connection, send_id: int, state: str, *, after_id: int, limit: int, batch: int
) -> list[tuple[int, str, str]]:
    """Like ``claim_new`` for rows in ``state`` ('failed' or 'in_doubt'), for an explicit retry.

    Recipients who are no longer active are left as they are.
    """
    if state not in ("failed", "in_doubt"):
        raise ValueError(f"cannot re-send rows in state {state!r}")
    with transaction(conn):
        rows = conn.execute(
            "SELECT s.id, s.email, s.name FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
            " WHERE d.send_id = ? AND d.state = ? AND d.subscriber_id > ? AND s.status = 'active'"
            " ORDER BY d.subscriber_id LIMIT ?",
            (send_id, state, after_id, limit),
        ).fetchall()
        _reclaim(conn, send_id, state, rows, batch)
    return [(r[0], r[1], r[2]) for r in rows]


def claim_ids(
    conn: sqlite3.Connection, send_id: int, subscriber_ids: Sequence[int], state: str, *, batch: int
) -> list[tuple[int, str, str]]:
    """Claim the given recipients' rows that are still in ``state`` (the end-of-run retry of temporary refusals)."""
    if state not in ("failed", "in_doubt"):
        raise ValueError(f"cannot re-send rows in state {state!r}")
    if not subscriber_ids:
        return []
    marks = ",".join("?" * len(subscriber_ids))
    with transaction(conn):
        rows = conn.execute(
            "SELECT s.id, s.email, s.name FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
            f" WHERE d.send_id = ? AND d.state = ? AND s.status = 'active' AND d.subscriber_id IN ({marks})"
            " ORDER BY d.subscriber_id",
            (send_id, state, *subscriber_ids),
        ).fetchall()
        _reclaim(conn, send_id, state, rows, batch)
    return [(r[0], r[1], r[2]) for r in rows]


def _reclaim(conn: sqlite3.Connection, send_id: int, state: str, rows, batch: int) -> None:
    """Journal ``rows`` (earlier ``state``) as 'sending' again in ``batch``, inside the caller's transaction."""
    if not rows:
        return
    conn.executemany(
        "UPDATE deliveries SET state = 'sending', batch = ?, attempts = attempts + 1, updated_at = ?"
        " WHERE send_id = ? AND subscriber_id = ?",
        [(batch, utcnow(), send_id, r[0]) for r in rows],
    )
    conn.execute(f"UPDATE sends SET {_COUNTED[state]} = {_COUNTED[state]} - ? WHERE id = ?", (len(rows), send_id))


def next_batch_number(conn: sqlite3.Connection, send_id: int) -> int:
    """A batch number never used before in this send (batch numbers identify a run's claims)."""
    return (conn.execute("SELECT MAX(batch) FROM deliveries WHERE send_id = ?", (send_id,)).fetchone()[0] or 0) + 1


def finish_batch(
    conn: sqlite3.Connection, send_id: int, outcomes: Iterable[tuple[int, str, str, str]], *, batch: int | None = None
) -> None:
    """Record ``(subscriber_id, state, message_id, error)`` for journaled rows, in one transaction.

    With ``batch`` (the claim's batch number) and one identical outcome for
    every row of the claim, a single statement records them all.
    """
    now = utcnow()
    rows = [(state, message_id, error[:1000], now, send_id, sid) for sid, state, message_id, error in outcomes]
    if batch is not None and rows and len({r[:3] for r in rows}) == 1:
        state, message_id, error = rows[0][:3]
        if state not in _COUNTED:
            raise ValueError(f"cannot finish a delivery as {state!r}")
        try:
            with transaction(conn):
                n = conn.execute(
                    "UPDATE deliveries SET state = ?, message_id = ?, error = ?, updated_at = ?"
                    " WHERE send_id = ? AND subscriber_id BETWEEN ? AND ? AND batch = ? AND state = 'sending'",
                    (state, message_id, error, now, send_id, min(r[5] for r in rows), max(r[5] for r in rows), batch),
                ).rowcount
                if n != len(rows):
                    raise _Mismatch()  # not exactly the claim: roll back, record row by row
                conn.execute(f"UPDATE sends SET {_COUNTED[state]} = {_COUNTED[state]} + ? WHERE id = ?", (n, send_id))
            return
        except _Mismatch:
            pass
    _finish_rows(conn, send_id, rows)


class _Mismatch(Exception):
    pass


def _finish_rows(conn: sqlite3.Connection, send_id: int, rows: list[tuple]) -> None:
    deltas: dict[str, int] = {}
    for state, *_ in rows:
        if state not in _COUNTED:
            raise ValueError(f"cannot finish a delivery as {state!r}")
        deltas[state] = deltas.get(state, 0) + 1
    with transaction(conn):
        conn.executemany(
            "UPDATE deliveries SET state = ?, message_id = ?, error = ?, updated_at = ?"
            " WHERE send_id = ? AND subscriber_id = ? AND state = 'sending'",
            rows,
        )
        if deltas:
            sets = ", ".join(f"{_COUNTED[s]} = {_COUNTED[s]} + {n}" for s, n in deltas.items())
            conn.execute(f"UPDATE sends SET {sets} WHERE id = ?", (send_id,))


def release(conn: sqlite3.Connection, send_id: int, subscriber_ids: Sequence[int], *, restore: str | None) -> None:
    """Undo a claim for recipients whose messages certainly did not go out.

    New claims (``restore=None``) are deleted, so the recipient is simply still
    pending; re-sends go back to their previous state.
    """
    if not subscriber_ids:
        return
    params = [(send_id, sid) for sid in subscriber_ids]
    with transaction(conn):
        if restore is None:
            conn.executemany("DELETE FROM deliveries WHERE send_id = ? AND subscriber_id = ? AND state = 'sending'", params)
            conn.execute("UPDATE sends SET recipients = recipients - ? WHERE id = ?", (len(params), send_id))
        else:
            conn.executemany(
                f"UPDATE deliveries SET state = '{restore}' WHERE send_id = ? AND subscriber_id = ? AND state = 'sending'",
                [(s, sid) for s, sid in params],
            )
            col = _COUNTED[restore]
            conn.execute(f"UPDATE sends SET {col} = {col} + ? WHERE id = ?", (len(params), send_id))


def skip_in_doubt(conn: sqlite3.Connection, send_id: int) -> int:
    """Mark every in-doubt row 'skipped' (the user decided not to re-send); return how many."""
    with transaction(conn):
        n = conn.execute(
            "UPDATE deliveries SET state = 'skipped', updated_at = ? WHERE send_id = ? AND state = 'in_doubt'",
            (utcnow(), send_id),
        ).rowcount
        conn.execute("UPDATE sends SET in_doubt = in_doubt - ?, skipped = skipped + ? WHERE id = ?", (n, n, send_id))
    return n


def in_doubt_emails(conn: sqlite3.Connection, send_id: int, limit: int = 20) -> list[str]:
    """Some addresses whose delivery is in doubt (for the report)."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT s.email FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
            " WHERE d.send_id = ? AND d.state = 'in_doubt' ORDER BY d.subscriber_id LIMIT ?",
            (send_id, limit),
        )
    ]


def failed_errors(conn: sqlite3.Connection, send_id: int, limit: int = 20) -> list[tuple[str, str]]:
    """Some ``(email, error)`` of failed deliveries (for the report)."""
    return [
        (r[0], r[1])
        for r in conn.execute(
            "SELECT s.email, d.error FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
            " WHERE d.send_id = ? AND d.state = 'failed' ORDER BY d.subscriber_id LIMIT ?",
            (send_id, limit),
        )
    ]


def list_sends(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every send, newest first, with its list name and counters."""
    rows = conn.execute(
        "SELECT s.id, s.slug, l.name AS list, s.backend, s.subject, s.status, s.recipients, s.accepted,"
        " s.failed, s.in_doubt, s.skipped, s.created_at, s.started_at, s.finished_at"
        " FROM sends s JOIN lists l ON l.id = s.list_id ORDER BY s.id DESC"
    ).fetchall()
    return [dict(r) for r in rows]


def deliveries_of(conn: sqlite3.Connection, send_id: int) -> list[dict[str, Any]]:
    """Every journal row of a send with the address (tests and reports; small sends only)."""
    rows = conn.execute(
        "SELECT d.*, s.email FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
        " WHERE d.send_id = ? ORDER BY d.subscriber_id",
        (send_id,),
    ).fetchall()
    return [dict(r) for r in rows]
