"""What a schedule did, as the invariants read it: the ledger (with the harness's own SQL), the release row,
and a record of every run, leave, join and report."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.delivery.harness.schedule import Run, Schedule
from tests.delivery.harness.servers import Copy, Output

LIST = "news"
SLUG = "issue"  # the issue file is issue.md


# --- what the ledger says ----------------------------------------------------------


@dataclass(frozen=True)
class Ledger:
    """The send's ledger rows as ``{email: (state, prior)}``, read with the harness's own SQL."""

    send_id: int | None = None
    rows: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    batches: dict[str, int] = field(default_factory=dict, compare=False)  # the batch that last claimed each row

    def state(self, email: str) -> str | None:
        """The row's state as the next run will treat it: 'sending' is in doubt, 'claimed' is its prior state."""
        if email not in self.rows:
            return None
        state, prior = self.rows[email]
        if state == "sending":
            return "in_doubt"
        if state == "claimed":
            return prior or "queued"
        return state

    def counts(self) -> dict[str, int]:
        """Recipients by state, as ``newsletter send`` and ``sends`` report them when no run is live."""
        found = Counter(self.state(e) for e in self.rows)
        return {"accepted": found["accepted"], "failed": found["failed"], "in_doubt": found["in_doubt"],
                "skipped": found["skipped"], "suppressed": found["suppressed"], "pending": found["queued"]}

    def status(self) -> str:
        """done (nothing left to decide), partial, or planned (no recipients)."""
        c = self.counts()
        if not self.rows:
            return "planned"
        return "partial" if c["pending"] or c["failed"] or c["in_doubt"] else "done"

    def emails_in(self, state: str) -> set[str]:
        """Recipients in ``state`` (as the next run will treat them)."""
        return {e for e in self.rows if self.state(e) == state}

    def last_batch(self) -> int:
        """The highest batch number any row was claimed in (0: none)."""
        return max(self.batches.values(), default=0)


class Target:
    """Which send of issue ``SLUG`` to list ``LIST`` the harness reads: the one whose audience key is
    ``audience`` ('' the first send; a resend schedule points it at its resend, 'non-readers-of:N', while it
    plays the resend, ``resend_world.py``). One schedule plays at a time, in one process."""

    audience = ""


def send_id(conn: sqlite3.Connection) -> int | None:
    """The id of the harness's send (issue ``SLUG`` to list ``LIST``, audience ``Target.audience``), if it exists."""
    row = conn.execute("SELECT s.id FROM sends s JOIN lists l ON l.id = s.list_id"
                       " WHERE s.slug = ? AND l.name = ? AND s.audience = ?",
                       (SLUG, LIST, Target.audience)).fetchone()
    return row[0] if row else None


def read_ledger(database: Path) -> Ledger:
    """The ledger of the harness's send, if it exists."""
    with closing(sqlite3.connect(database, timeout=60)) as conn:
        send = send_id(conn)
        if send is None:
            return Ledger()
        rows = conn.execute("SELECT p.email, d.state, d.prior, d.batch FROM deliveries d"
                            " JOIN subscribers p ON p.id = d.subscriber_id WHERE d.send_id = ?", (send,)).fetchall()
    return Ledger(send, {email: (state, prior) for email, state, prior, _ in rows},
                  {email: batch for email, _, _, batch in rows})


@dataclass(frozen=True)
class Release:
    """The send's release row: whether it is paused, its state, the options a resume continues it with."""

    paused: bool = False
    state: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    backend: str = ""  # the send's (its last run's)


def read_release(database: Path) -> Release:
    """The release row of the harness's send (an empty one when there is none)."""
    with closing(sqlite3.connect(database, timeout=60)) as conn:
        send = send_id(conn)
        row = conn.execute("SELECT r.paused_at, r.state, r.options, s.backend FROM releases r"
                           " JOIN sends s ON s.id = r.send_id WHERE r.send_id = ?", (send,)).fetchone()
    if row is None:
        return Release()
    return Release(bool(row[0]), row[1], json.loads(row[2] or "{}"), row[3])


# --- the record -----------------------------------------------------------------------


@dataclass
class SecondRun:
    """A run started while another held the send."""

    output: Output
    holder_pid: int
    before: tuple[Any, ...]  # its footprint: rows in send_runs, the send's row
    after: tuple[Any, ...]
    listing: dict[str, Any] | None  # `sends --json` meanwhile


@dataclass
class PauseRecord:
    """``newsletter pause`` during a run (or when it had ended): what it said, and the ledger and the servers
    right after it returned (while the server still held the answer of the unit it came at)."""

    during: bool
    output: Output
    ledger: Ledger
    received: int  # copies of this send received so far, both servers
    seconds: float = 0.0  # how long the server held the unit's answer (the pause command's run)


@dataclass
class Blocked:
    """A plain ``send`` tried while the send is paused: refused, writing and sending nothing."""

    output: Output
    before: tuple[Any, ...]
    after: tuple[Any, ...]
    received_before: int
    received_after: int


@dataclass
class LeaveRecord:
    """One member leaving: their ledger state and how many copies they had received at that moment."""

    email: str
    status: str
    step: int
    state_at: str | None
    received_at: int


@dataclass
class RunRecord:
    """One run: what it was asked, what it printed, the ledger before and after, `sends --json` after."""

    step: int
    run: Run
    output: Output
    before: Ledger
    after: Ledger
    listing: dict[str, Any] | None
    grants: frozenset[str]  # in doubt at its start, and --resend-in-doubt given: one more copy allowed
    created: bool  # the send did not exist before this run
    fired: bool  # the process event happened (the run reached its unit)
    answers_used: tuple[str | None, ...] = ()  # the SendGrid answers its requests met
    second: SecondRun | None = None
    frozen_at: Ledger | None = None  # stopped (SIGSTOP) and taken over: the ledger when its lease had run out
    takeover: RunRecord | None = None  # the run that took the send over meanwhile
    pause: PauseRecord | None = None  # the operator paused the send during this run (or when it ended)
    paused_after: bool = False  # the send is paused once this run has ended
    received_after: int = 0  # copies of this send received when this run had ended
    blocked: Blocked | None = None  # the send was paused: a plain `send` tried before this run resumed it
    resume_only: Output | None = None  # `resume` of a send with no run to continue: it only lifted the pause
    most_in_flight: int = 0  # SendGrid requests the stand-in was handling at once, at most
    leftover_in_flight: int = 0  # of those, still out from earlier runs (killed) when this one started
    in_flight_at_event: int = 0  # SendGrid requests in flight when the process event hit


@dataclass
class ScheduledRecord:
    """A send scheduled via SendGrid, left by some before its time, then started by the worker at that time."""

    step: int
    route: str  # how ``schedule`` said it goes out: worker, or sendgrid (handed over now)
    started: list[tuple[str, str]]  # what the worker started: (state, detail) each
    ahead: int  # SendGrid requests that carried send_at (handed over ahead of their time)
    held: int  # messages SendGrid still holds for later once the time has come and gone
    after: Ledger
    listing: dict[str, Any] | None
    error: str = ""  # scheduling failed


@dataclass
class ReportRecord:
    """Events the provider reported: for whom, and what ``events import`` said."""

    step: int
    output: Output
    proven: set[str]  # members with an event proving their message was handed over


@dataclass
class Record:
    """Everything a schedule did."""

    schedule: Schedule
    runs: list[RunRecord] = field(default_factory=list)
    leaves: list[LeaveRecord] = field(default_factory=list)
    joins: dict[str, int] = field(default_factory=dict)  # who joined the list, at which step
    reports: list[ReportRecord] = field(default_factory=list)
    scheduled: list[ScheduledRecord] = field(default_factory=list)
    received: Counter[str] = field(default_factory=Counter)
    copies: list[Copy] = field(default_factory=list)
    people: dict[str, tuple[int, str]] = field(default_factory=dict)  # email -> (subscriber id, name)
    violations: list[str] = field(default_factory=list)  # requests breaking SendGrid's documented limits
    final: Ledger = field(default_factory=Ledger)

    def describe(self) -> str:
        """The runs as they went (printed with a failure)."""
        lines = []
        for r in self.runs:
            o = r.output
            lines.append(f"  step {r.step + 1}{' (resume)' if r.run.resumed else ''}: exit {o.exit_code}"
                         f"{' (unit reached)' if r.fired else ''}; "
                         f"ledger after: {r.after.counts()}")
            for text in (o.stdout, o.stderr, o.crash):
                lines.extend(f"      | {line}" for line in text.strip().splitlines()[-6:] if line.strip())
            if r.second is not None:
                second = r.second.output
                lines.append(f"      second run: exit {second.exit_code}: {second.stderr.strip()[-200:]}")
            if r.pause is not None:
                p = r.pause
                lines.append(f"      pause {'during the run' if p.during else 'after it'}: exit {p.output.exit_code}: "
                             f"{(p.output.stdout + p.output.stderr).strip()[-200:]}; ledger then: {p.ledger.counts()}, "
                             f"last batch {p.ledger.last_batch()}")
            if r.blocked is not None:
                lines.append(f"      send while paused: exit {r.blocked.output.exit_code}: "
                             f"{r.blocked.output.stderr.strip()[-200:]}")
        for sched in self.scheduled:
            lines.append(f"  step {sched.step + 1} (scheduled): route {sched.route}, worker started {sched.started}, "
                         f"{sched.ahead} request(s) with send_at, {sched.held} held; ledger after: "
                         f"{sched.after.counts()}{' ' + sched.error if sched.error else ''}")
        for leave in self.leaves:
            lines.append(f"  {leave.email} {leave.status} at step {leave.step + 1} "
                         f"(row {leave.state_at}, {leave.received_at} received)")
        lines.extend(f"  {email} joined at step {step + 1}" for email, step in self.joins.items())
        return "\n".join(lines)
