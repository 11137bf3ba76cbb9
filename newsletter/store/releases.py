"""SQL for releases: how a send is started, scheduled, paused and cancelled.

A ``releases`` row (one per send, keyed by ``sends.id``) records where the
send came from (the issue file and options, so a worker or ``resume`` can
compose it again), what was scheduled (the build, the time, SendGrid's batch)
and its state. ``claim_due`` is the only place that decides which worker
starts a scheduled send: on SQLite a write transaction (``BEGIN IMMEDIATE``)
is the lock; PostgreSQL's store may replace this one function with an
advisory lock or ``FOR UPDATE SKIP LOCKED``.

Times are UTC text ('2026-12-02T08:00:00Z') passed in by the caller, so
scheduling follows the caller's (injectable) clock.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from newsletter.store import DB, transaction
from newsletter.store.subscribers import ON_LIST


class ReleaseState(StrEnum):
    """Where a send stands in its release (``releases.state``); its recipients' states are the ledger's."""

    SCHEDULED = "scheduled"  # waiting for its time; a worker starts it
    HANDED_OVER = "handed-over"  # every batch is with SendGrid, held until its time
    RUNNING = "running"  # a run holds it
    STOPPED = "stopped"  # its run stopped (Ctrl-C, a pause): `send` or `resume` continues it
    DONE = "done"  # every recipient decided
    INCOMPLETE = "incomplete"  # the run ended with recipients failed, in doubt or left
    FAILED = "failed"  # the run ended on an error
    REFUSED = "refused"  # the gate refused it (approvals, a changed build)
    CANCELLED = "cancelled"  # cancelled before it started


class Route(StrEnum):
    """How a send was started (``releases.mode``)."""

    NOW = "now"  # from a terminal, `newsletter send`
    WORKER = "worker"  # scheduled; a worker starts it at its time
    SENDGRID = "sendgrid"  # scheduled; handed to SendGrid with send_at


#: States in which a send is waiting for its time (worker) or for SendGrid to release it.
WAITING = (ReleaseState.SCHEDULED, ReleaseState.HANDED_OVER)


def _row(row: sqlite3.Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    found = dict(row)
    found["options"] = json.loads(found["options"] or "{}")
    found["build"] = json.loads(found["build"] or "{}")
    return found


def get(conn: DB, send_id: int) -> dict[str, Any] | None:
    """The release row of send ``send_id`` (``options`` and ``build`` decoded), or ``None``."""
    return _row(conn.execute("SELECT * FROM releases WHERE send_id = ?", (send_id,)).fetchone())


def save(conn: DB, send_id: int, *, now: str, **values: Any) -> None:
    """Create or update the release row of ``send_id`` with ``values`` (column names; dicts become JSON)."""
    encoded = {k: json.dumps(v, sort_keys=True) if isinstance(v, dict) else v for k, v in values.items()}
    names = ", ".join(encoded)
    marks = ", ".join("?" * len(encoded))
    sets = ", ".join(f"{k} = excluded.{k}" for k in encoded)
    # One statement: two processes saving the same send at once (send workers) cannot both insert.
    with transaction(conn):
        conn.execute(f"INSERT INTO releases (send_id, {names}, created_at, updated_at) VALUES (?, {marks}, ?, ?)"
                     f" ON CONFLICT (send_id) DO UPDATE SET {sets}, updated_at = excluded.updated_at",
                     (send_id, *encoded.values(), now, now))


def set_state(conn: DB, send_id: int, state: str, *, now: str, error: str = "",
              expect: Sequence[str] = ()) -> bool:
    """Move a release to ``state`` (only from one of ``expect``, if given); return whether it moved."""
    guard = f" AND state IN ({','.join('?' * len(expect))})" if expect else ""
    with transaction(conn):
        return conn.execute(
            f"UPDATE releases SET state = ?, error = ?, updated_at = ? WHERE send_id = ?{guard}",
            (state, error[:2000], now, send_id, *expect),
        ).rowcount == 1


def schedule_for_worker(conn: DB, send_id: int, *, run_at: str, now: str) -> bool:
    """Make a send a worker's, due at ``run_at`` (the caller then sets its state to 'scheduled'): a subject
    test's rest, after its pick. False if it has no release row."""
    with transaction(conn):
        return conn.execute(
            "UPDATE releases SET mode = 'worker', run_at = ?, claimed_by = '', error = '', updated_at = ?"
            " WHERE send_id = ?", (run_at, now, send_id),
        ).rowcount == 1


def claim_due(conn: DB, now: str, worker: str) -> dict[str, Any] | None:
    """Take the earliest scheduled send due at ``now`` for ``worker``: exactly one caller gets each.

    The read and the write share one write-locked transaction, so two workers
    (threads, processes or hosts on one database) can never both move the same
    row from 'scheduled' to 'running'. Paused sends are left alone.
    """
    with transaction(conn):
        row = conn.execute(
            "SELECT send_id FROM releases WHERE state = 'scheduled' AND mode = 'worker' AND run_at <= ?"
            " AND paused_at IS NULL ORDER BY run_at, send_id LIMIT 1" + conn.dialect.claim_rows("releases"),
            (now,),
        ).fetchone()
        if row is None:
            return None
        taken = conn.execute(
            "UPDATE releases SET state = 'running', claimed_by = ?, error = '', updated_at = ?"
            " WHERE send_id = ? AND state = 'scheduled'",
            (worker, now, row[0]),
        ).rowcount
    # PostgreSQL: the row was locked (or skipped) as it was read; either way only the
    # caller whose UPDATE moved it from 'scheduled' owns it.
    return get(conn, row[0]) if taken == 1 else None


def next_due(conn: DB) -> str | None:
    """When the next scheduled, unpaused send is due (UTC text), or ``None``."""
    row = conn.execute(
        "SELECT MIN(run_at) FROM releases WHERE state = 'scheduled' AND mode = 'worker' AND paused_at IS NULL"
    ).fetchone()
    return row[0] if row else None


def set_paused(conn: DB, send_id: int, *, paused: bool, by: str = "", now: str) -> bool:
    """Set or clear the pause of a send; False if it had no release row or was already so."""
    with transaction(conn):
        if paused:
            return conn.execute(
                "UPDATE releases SET paused_at = ?, paused_by = ?, updated_at = ? WHERE send_id = ? AND paused_at IS NULL",
                (now, by, now, send_id),
            ).rowcount == 1
        return conn.execute(
            "UPDATE releases SET paused_at = NULL, paused_by = '', updated_at = ?"
            " WHERE send_id = ? AND paused_at IS NOT NULL",
            (now, send_id),
        ).rowcount == 1


def is_paused(conn: DB, send_id: int) -> bool:
    """Whether send ``send_id`` is paused (the run loop asks between batches)."""
    row = conn.execute("SELECT paused_at FROM releases WHERE send_id = ?", (send_id,)).fetchone()
    return bool(row and row[0])


def cancel(conn: DB, send_id: int, *, now: str, states: Sequence[str], detail: str = "",
           discard: bool = False) -> bool:
    """Cancel a release in one of ``states`` and remove its send and ledger; False if it was not in them.

    Nothing of a cancelled send is delivered, so its ledger goes and the issue
    can be sent to the list again – unless some of it went out earlier (a
    scheduled continuation of a partial send): then the ledger stays, exact.
    ``discard`` removes it all the same (SendGrid's batch was cancelled first,
    so what the ledger calls handed over will never be delivered).
    """
    marks = ",".join("?" * len(states))
    with transaction(conn):
        moved = conn.execute(
            f"UPDATE releases SET state = 'cancelled', error = ?, updated_at = ? WHERE send_id = ? AND state IN ({marks})",
            (detail, now, send_id, *states),
        ).rowcount
        if not moved:
            return False
        handed_over = conn.execute(
            "SELECT 1 FROM deliveries WHERE send_id = ? AND (attempts > 0 OR state NOT IN ('queued', 'suppressed'))"
            " LIMIT 1", (send_id,)).fetchone()
        if handed_over and not discard:
            return True
        conn.execute("DELETE FROM send_runs WHERE send_id = ?", (send_id,))
        conn.execute("DELETE FROM deliveries WHERE send_id = ?", (send_id,))
        conn.execute("DELETE FROM sends WHERE id = ?", (send_id,))
        return True


def list_releases(conn: DB, send_id: int | None = None) -> list[dict[str, Any]]:
    """Every release row (or one), newest first."""
    where = " WHERE send_id = ?" if send_id is not None else ""
    rows = conn.execute(f"SELECT * FROM releases{where} ORDER BY send_id DESC",
                        (send_id,) if send_id is not None else ()).fetchall()
    return [r for r in (_row(row) for row in rows) if r is not None]


# --- audiences ------------------------------------------------------------------


def audience_members(conn: DB, list_id: int, where: str = "", params: Sequence[Any] = ()) -> list[int]:
    """Ids of the list's active members matching ``where`` (``store.segments.where_sql``), in order."""
    return [r[0] for r in conn.execute(
        "SELECT s.id FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id"
        f" WHERE m.list_id = ? AND {ON_LIST}" + (f" AND ({where})" if where else "") + " ORDER BY s.id",
        (list_id, *params),
    )]


def ledger_members(conn: DB, send_id: int) -> list[int]:
    """Ids in a send's fixed audience (its ledger rows, suppressed ones left out), in order."""
    return [r[0] for r in conn.execute(
        "SELECT subscriber_id FROM deliveries WHERE send_id = ? AND state != 'suppressed' ORDER BY subscriber_id",
        (send_id,),
    )]


def departures(conn: DB, list_id: int, ids: Sequence[int]) -> tuple[int, int]:
    """Of ``ids`` (no longer in an audience): ``(unsubscribed, left)``.

    Unsubscribed: the subscriber is suppressed (unsubscribed, bounced,
    complained) or left this list; left: anything else (erased, removed, or no
    longer matching the segment).
    """
    unsubscribed = conn.execute(
        "SELECT COUNT(*) FROM subscribers s LEFT JOIN memberships m ON m.subscriber_id = s.id AND m.list_id = ?"
        f" WHERE {conn.dialect.id_in('s.id')} AND (s.status != 'active' OR m.status = 'unsubscribed')",
        (list_id, conn.dialect.id_list(ids)),
    ).fetchone()[0]
    return int(unsubscribed), len(ids) - int(unsubscribed)


def save_snapshot(conn: DB, digest: str, ids: Sequence[int], *, now: str) -> None:
    """Keep the member ids an approver counted, under their digest (once)."""
    blob = zlib.compress(",".join(map(str, ids)).encode("ascii"), 6)
    with transaction(conn):
        conn.execute("INSERT INTO audience_snapshots (digest, members, ids, created_at) VALUES (?, ?, ?, ?)"
                     " ON CONFLICT DO NOTHING",
                     (digest, len(ids), blob, now))


def load_snapshot(conn: DB, digest: str) -> list[int] | None:
    """The member ids kept under ``digest``, or ``None`` (approved against another database)."""
    row = conn.execute("SELECT ids FROM audience_snapshots WHERE digest = ?", (digest,)).fetchone()
    if row is None:
        return None
    text = zlib.decompress(row[0]).decode("ascii")
    return [int(i) for i in text.split(",")] if text else []
