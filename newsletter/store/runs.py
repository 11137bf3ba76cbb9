"""SQL for send runs and their leases: who may send a send right now.

A run holds a lease (owner, host, pid, expiry) that it renews while it
lives. Another run refuses while the lease is fresh; once it expired, or its
process is provably gone from this host, the lease is taken over and only
that run's rows change: 'sending' becomes 'in_doubt', 'claimed' returns to
where it was.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Callable

from newsletter.store import transaction
from newsletter.store.subscribers import utcnow


@dataclass(frozen=True)
class RunRow:
    """An open run of a send."""

    id: int
    send_id: int
    owner: str
    host: str
    pid: int
    pid_started: str
    started_at: str
    expires_at: float


def open_runs(conn: sqlite3.Connection, send_id: int | None = None) -> list[RunRow]:
    """Runs that have not ended (of one send, or of all)."""
    sql = ("SELECT id, send_id, owner, host, pid, pid_started, started_at, expires_at FROM send_runs"
           " WHERE ended_at IS NULL")
    rows = conn.execute(sql + (" AND send_id = ?" if send_id is not None else ""),
                        (send_id,) if send_id is not None else ()).fetchall()
    return [RunRow(*tuple(r)) for r in rows]


def _orphans_to_doubt(conn: sqlite3.Connection, send_id: int, now: str) -> int:
    # Rows held by no open run: their run is over, so what it handed over is
    # in doubt and what it only claimed goes back.
    held = "(run_id IS NULL OR run_id NOT IN (SELECT id FROM send_runs WHERE ended_at IS NULL))"
    doubt = conn.execute(
        "UPDATE deliveries SET state = 'in_doubt', prior = NULL, run_id = NULL, updated_at = ?,"
        " error = 'the run sending it stopped before the provider answered'"
        f" WHERE send_id = ? AND state = 'sending' AND {held}",
        (now, send_id),
    ).rowcount
    conn.execute(
        "UPDATE deliveries SET state = COALESCE(prior, 'queued'), prior = NULL, run_id = NULL, updated_at = ?"
        f" WHERE send_id = ? AND state = 'claimed' AND {held}",
        (now, send_id),
    )
    return doubt


def start(
    conn: sqlite3.Connection,
    send_id: int,
    *,
    owner: str,
    host: str,
    pid: int,
    pid_started: str,
    lease_s: float,
    is_gone: Callable[[RunRow], bool],
) -> tuple[int, int, RunRow | None]:
    """Open a run of ``send_id``: ``(run id, rows turned in doubt, None)``, or ``(0, 0, holder)`` if held.

    ``is_gone(run)`` says whether an unexpired run's process is provably dead.
    """
    now_s, now = time.time(), utcnow()
    with transaction(conn):
        for run in open_runs(conn, send_id):
            if run.expires_at > now_s and not is_gone(run):
                return 0, 0, run
            conn.execute("UPDATE send_runs SET ended_at = ?, outcome = 'taken-over' WHERE id = ?", (now, run.id))
        doubt = _orphans_to_doubt(conn, send_id, now)
        run_id = conn.execute(
            "INSERT INTO send_runs (send_id, owner, host, pid, pid_started, started_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (send_id, owner, host, pid, pid_started, now, now_s + lease_s),
        ).lastrowid
        assert run_id is not None
    return run_id, doubt, None


def renew(conn: sqlite3.Connection, run_id: int, lease_s: float) -> bool:
    """Extend a run's lease; False if it is no longer open (it was taken over)."""
    with transaction(conn):
        return conn.execute(
            "UPDATE send_runs SET expires_at = ? WHERE id = ? AND ended_at IS NULL", (time.time() + lease_s, run_id)
        ).rowcount == 1


def end(conn: sqlite3.Connection, run_id: int, send_id: int, outcome: str) -> None:
    """Close a run; whatever it still holds is settled as for a dead run."""
    now = utcnow()
    with transaction(conn):
        conn.execute("UPDATE send_runs SET ended_at = ?, outcome = ? WHERE id = ? AND ended_at IS NULL",
                     (now, outcome, run_id))
        _orphans_to_doubt(conn, send_id, now)
        conn.execute("UPDATE sends SET finished_at = ? WHERE id = ?", (now, send_id))
