"""A run's hold on a send: the lease in the database, renewed by a heartbeat thread.

The lease, not a lock file, decides who may send: it works whatever path
the database is reached by, ends with its process, and is what several
workers on several hosts need. A run whose process is gone from this host is
taken over at once; one on another host when its lease expires by the
database's clock (the SQL is ``store/runs.py``); one whose process provably
still lives on this host never. Worker runs (``send --worker``) share a send; each
worker's heartbeat also ends the dead runs beside it, so what a killed
worker had in flight becomes in doubt while the others carry on.
``live_runs`` is the one answer to "is a run of this send alive now?".
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from pathlib import Path

from newsletter.errors import BusyError, NewsletterError
from newsletter.store import DB, connect, display_name
from newsletter.store import runs as run_store

HOST = socket.gethostname()
#: The runs this process holds now. A run of this very process is alive only while it is here: one whose
#: end failed (a full disk) is then judged by its lease like any other, though its pid lives on.
_HELD: set[int] = set()


def process_started(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot), '' if unknown; tells a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22, counted after the command name


def _exists(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (perhaps another one that reused the pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    return True


def is_gone(run: run_store.RunRow) -> bool:
    """True when ``run`` belonged to a process of this host that no longer exists."""
    if run.host != HOST:
        return False
    if not _exists(run.pid):
        return True
    return bool(run.pid_started) and process_started(run.pid) not in ("", run.pid_started)


def is_alive(run: run_store.RunRow) -> bool:
    """True when ``run`` belongs to a process of this host that provably still lives: the same pid, started at
    the same moment (a reused pid is another process); for a run of this process, one it still holds."""
    if run.host != HOST or not run.pid_started:
        return False
    if run.pid == os.getpid():
        return run.id in _HELD and process_started(run.pid) == run.pid_started
    return _exists(run.pid) and process_started(run.pid) == run.pid_started


def live_runs(conn: DB, send_id: int | None = None) -> list[run_store.RunRow]:
    """Open runs (of one send, or of all) that still hold their send (``runs.is_live``)."""
    return [run for run in run_store.open_runs(conn, send_id) if run_store.is_live(run, is_gone, is_alive)]


class Lease:
    """Holds one run of a send; ``with Lease(...)`` renews it until the block ends.

    ``lost`` is set when the heartbeat (or ``check``, before each claim) finds
    the run taken over (its lease expired while the process was stalled): the
    run must stop at once.
    """

    def __init__(self, conn: DB, database: str, send_id: int, *, seconds: float, timeout: float,
                 worker: bool = False) -> None:
        self.conn = conn
        self.database = database
        self.worker = worker
        self.send_id = send_id
        self.seconds = seconds
        self.timeout = timeout
        self.run_id = 0
        self.taken_over = 0  # rows an earlier, dead run left in flight, now in doubt
        self.lost = threading.Event()
        self.renewed = time.monotonic()  # when this run last made sure of its lease
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> Lease:
        """Open the run, or raise ``BusyError`` naming the run that holds the send."""
        pid = os.getpid()
        process = run_store.Process(secrets.token_hex(8), HOST, pid, process_started(pid))
        run_id, doubt, holder = run_store.start(self.conn, self.send_id, process, lease_s=self.seconds,
                                                is_gone=is_gone, worker=self.worker, is_alive=is_alive)
        if holder is not None:
            held = f"send {self.send_id} is being sent by process {holder.pid} on {holder.host} (since {holder.started_at})"
            if self.worker:
                message = f"{held}, which is not a worker; wait for it to finish, or stop it"
            elif holder.worker:
                message = f"{held}, a worker; join it with --worker, or wait for the workers to finish"
            else:
                message = f"{held}; wait for it to finish, or stop it"
            raise BusyError(message, subject=display_name(self.database))
        self.run_id, self.taken_over = run_id, doubt
        _HELD.add(run_id)
        self.renewed = time.monotonic()
        self._thread = threading.Thread(target=self._beat, name="lease", daemon=True)
        self._thread.start()
        return self

    def _beat(self) -> None:
        conn = None
        try:
            conn = connect(self.database, migrate_schema=False, timeout=self.timeout)
            while not self._stop.wait(self.seconds / 3):
                if not run_store.renew(conn, self.run_id, self.seconds):
                    self.lost.set()
                    _HELD.discard(self.run_id)
                    return
                self.renewed = time.monotonic()
                if self.worker:
                    run_store.reap(conn, self.run_id, self.send_id, is_gone, is_alive)
        except NewsletterError:
            pass  # cannot renew: the lease runs out and the run is treated as gone
        finally:
            if conn is not None:
                conn.close()

    def check(self, *, force: bool = False) -> bool:
        """Renew the lease now; False (and ``lost`` set) if the run was taken over meanwhile.

        The heartbeat notices a takeover only at its next beat: a run resumed
        after a stall longer than its lease checks here before it claims more.
        A lease renewed less than a third of its length ago cannot have run out
        (nobody can have taken the send over): then there is nothing to write,
        unless ``force`` (a claim found rows and took none: perhaps a takeover).
        """
        if self.lost.is_set():
            return False
        if not force and time.monotonic() - self.renewed < self.seconds / 3:
            return True
        if not run_store.renew(self.conn, self.run_id, self.seconds):
            self.lost.set()
            _HELD.discard(self.run_id)
            return False
        self.renewed = time.monotonic()
        return True

    def end(self, outcome: str) -> None:
        """Stop renewing and close the run (what it still holds is settled as for a dead run).

        When closing fails (a full disk), the run stays open in the store until its lease runs out; the run
        that starts next settles its rows then.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        _HELD.discard(self.run_id)
        if self.run_id and not self.lost.is_set():
            run_store.end(self.conn, self.run_id, self.send_id, outcome, is_gone=is_gone, is_alive=is_alive)
