"""SQL for send runs and their leases: who may send a send right now.

A run holds a lease (owner, host, pid, expiry) that it renews while it
lives. Another run refuses while the lease is fresh; once it expired, or its
process is provably gone from this host, the lease is taken over and only
that run's rows change: 'sending' becomes 'in_doubt', 'claimed' returns to
where it was (``ledger.orphans_to_doubt``).

Expiry is judged on the database's clock (``dialect.epoch_now``), never on
the caller's: a host whose clock runs ahead must not end a run that is
renewing its lease on time. And a run whose process is provably alive on
the asking host (same pid, same start time) is live whatever its expiry
says: a process that stalled past its lease (a suspended laptop, a stopped
job) is never taken over from under itself on its own host.

Worker runs (``send --worker``) share a send: any number of them may hold it
at once, each claiming its own batches, while a run that is not a worker
still holds a send alone (it refuses to start next to workers, and workers
refuse to start next to it). A worker's heartbeat also ends the runs of the
same send whose lease expired or whose process is gone (``reap``), so a
killed worker's rows in flight become in doubt while the others carry on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from newsletter.store import DB, transaction
from newsletter.store.ledger import orphans_to_doubt
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
    worker: bool = False
    expired: bool = False  # by the database's clock, when the row was read


def _never(run: RunRow) -> bool:
    return False


def is_live(run: RunRow, is_gone: Callable[[RunRow], bool], is_alive: Callable[[RunRow], bool] = _never) -> bool:
    """Whether ``run`` still holds its send: its process is provably alive on this host, or its lease has not
    expired (by the database's clock) and its process is not provably gone."""
    return is_alive(run) or (not run.expired and not is_gone(run))


def open_runs(conn: DB, send_id: int | None = None) -> list[RunRow]:
    """Runs that have not ended (of one send, or of all)."""
    sql = ("SELECT id, send_id, owner, host, pid, pid_started, started_at, expires_at, worker,"
           f" CASE WHEN expires_at > {conn.dialect.epoch_now} THEN 0 ELSE 1 END FROM send_runs WHERE ended_at IS NULL")
    rows = conn.execute(sql + (" AND send_id = ?" if send_id is not None else "") + " ORDER BY id",
                        (send_id,) if send_id is not None else ()).fetchall()
    return [RunRow(run_id, send, owner, host, pid, pid_started, started_at, expires_at, bool(worker), bool(expired))
            for run_id, send, owner, host, pid, pid_started, started_at, expires_at, worker, expired in rows]


def _end_dead_runs(conn: DB, send_id: int, is_gone: Callable[[RunRow], bool], now: str, *, keep: int = 0,
                   is_alive: Callable[[RunRow], bool] = _never) -> list[RunRow]:
    """End the send's open runs that are dead (``is_live`` says no); return the live ones.

    Call inside a transaction that holds the send's row lock. ``keep``: a run
    never ended here (the caller's own).
    """
    live = []
    for run in open_runs(conn, send_id):
        if run.id == keep or is_live(run, is_gone, is_alive):
            live.append(run)
        else:
            conn.execute("UPDATE send_runs SET ended_at = ?, outcome = 'taken-over' WHERE id = ? AND ended_at IS NULL",
                         (now, run.id))
    return live


def _lock_send(conn: DB, send_id: int) -> None:
    # One process at a time decides who holds a send (SQLite's write lock already does that).
    conn.execute("SELECT id FROM sends WHERE id = ?" + conn.dialect.lock_rows(), (send_id,))


class Process(NamedTuple):
    """The process a run belongs to: a random owner token, and where it runs (``pid_started`` tells a reused
    pid apart)."""

    owner: str
    host: str
    pid: int
    pid_started: str = ""


def start(conn: DB, send_id: int, process: Process, *, lease_s: float, is_gone: Callable[[RunRow], bool],
          worker: bool = False, is_alive: Callable[[RunRow], bool] = _never) -> tuple[int, int, RunRow | None]:
    """Open a run of ``send_id`` by ``process``: ``(run id, rows turned in doubt, None)``, or ``(0, 0, holder)``
    if held.

    ``is_gone(run)`` says whether an unexpired run's process is provably dead,
    ``is_alive(run)`` whether an expired one's is provably alive. A worker run
    may start next to other live worker runs; any other combination is
    refused while the holder lives.
    """
    now = utcnow()
    with transaction(conn):
        _lock_send(conn, send_id)
        live = _end_dead_runs(conn, send_id, is_gone, now, is_alive=is_alive)
        doubt = orphans_to_doubt(conn, send_id, now)
        holders = [run for run in live if not (worker and run.worker)]
        if holders:
            return 0, 0, holders[0]
        run_id = conn.execute(
            "INSERT INTO send_runs (send_id, owner, host, pid, pid_started, started_at, expires_at, worker)"
            f" VALUES (?, ?, ?, ?, ?, ?, {conn.dialect.epoch_now} + ?, ?) RETURNING id",
            (send_id, *process, now, lease_s, int(worker)),
        ).fetchone()[0]
    return int(run_id), doubt, None


def has_ended(conn: DB, run_id: int) -> bool:
    """True once run ``run_id`` has ended, by itself or taken over after its lease expired while it stalled."""
    return conn.execute("SELECT 1 FROM send_runs WHERE id = ? AND ended_at IS NOT NULL", (run_id,)).fetchone() is not None


def renew(conn: DB, run_id: int, lease_s: float) -> bool:
    """Extend a run's lease; False if it is no longer open (it was taken over)."""
    with transaction(conn):
        return conn.execute(
            f"UPDATE send_runs SET expires_at = {conn.dialect.epoch_now} + ? WHERE id = ? AND ended_at IS NULL",
            (lease_s, run_id)
        ).rowcount == 1


def reap(conn: DB, run_id: int, send_id: int, is_gone: Callable[[RunRow], bool],
         is_alive: Callable[[RunRow], bool] = _never) -> int:
    """End the other runs of the send that are dead and settle their rows; return how many rows became in doubt."""
    now = utcnow()
    with transaction(conn):
        _lock_send(conn, send_id)
        before = len(open_runs(conn, send_id))
        if len(_end_dead_runs(conn, send_id, is_gone, now, keep=run_id, is_alive=is_alive)) == before:
            return 0
        return orphans_to_doubt(conn, send_id, now)


def end(conn: DB, run_id: int, send_id: int, outcome: str,
        is_gone: Callable[[RunRow], bool] | None = None, is_alive: Callable[[RunRow], bool] = _never) -> None:
    """Close a run; whatever it still holds is settled as for a dead run (and so is what dead runs left)."""
    now = utcnow()
    with transaction(conn):
        _lock_send(conn, send_id)
        conn.execute("UPDATE send_runs SET ended_at = ?, outcome = ? WHERE id = ? AND ended_at IS NULL",
                     (now, outcome, run_id))
        if is_gone is not None:
            _end_dead_runs(conn, send_id, is_gone, now, is_alive=is_alive)
        orphans_to_doubt(conn, send_id, now)
        conn.execute("UPDATE sends SET finished_at = ? WHERE id = ?", (now, send_id))
