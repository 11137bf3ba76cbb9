"""Playing a resend schedule (``resend_schedule.py``): ``World`` for the first send, then the same machinery
(kills, pauses, refusals, members leaving during runs) for ``send --to-non-readers-of SEND --subject ...``,
with reads written as the tracking server would judge them, workers starting a resend scheduled with ``--after``
on the harness's clock, and a record (``ResendRecord``) for ``resend_invariants``.

While the resend plays, ``record.Target`` points the harness's ledger reads at the resend and ``World.subject``
is the resend's subject, so ``World``'s own records (each run's ledger before and after, who left with which
row and how many copies) are the resend's; the first send's are read back at the end.
"""

from __future__ import annotations

import random
import sqlite3
import threading
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.delivery.harness.record import LIST, Ledger, Record, Target, read_ledger, read_release, send_id
from tests.delivery.harness.resend_schedule import (
    AFTER_DELAY,
    SECOND_WHERE,
    Again,
    Finish,
    Reads,
    ResendSchedule,
    ResendWorkers,
    ScheduleResend,
    SecondResend,
    resend_subject,
)
from tests.delivery.harness.schedule import Join, Leave, Process, Run, Schedule
from tests.delivery.harness.servers import DEADLINE_S, Moment, Output
from tests.delivery.harness.tuning import tuned
from tests.delivery.harness.world import World

#: How many plain runs ``Finish`` tries before it gives up (each one ends by itself: no faults).
FINISH_TRIES = 4


@dataclass(frozen=True)
class ReadSeen:
    """One open or click of the first send written by the harness: whose, its kind and verdict, whether the
    resend had started (its audience fixed) when it was written."""

    email: str
    kind: str
    verdict: str
    step: int
    started: bool

    @property
    def is_read(self) -> bool:
        """A read as the README defines it: human open or click, or an unknown click."""
        return self.verdict == "human" or (self.verdict == "unknown" and self.kind == "click")


@dataclass
class WorkersRecord:
    """Workers at the resend's time: what each started, and exceptions in their threads."""

    step: int
    workers: int
    started: list[tuple[int, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class AgainRecord:
    """After the resend finished: its command again, a resend of the resend, and perhaps a second resend."""

    again: Output
    again_ledgers: tuple[Ledger, Ledger]
    again_copies: tuple[int, int]
    refused: Output
    refused_footprints: tuple[Any, Any]
    refused_copies: tuple[int, int]
    second: Output | None = None
    second_rows: dict[str, str] = field(default_factory=dict)  # email -> state, the second resend's ledger
    second_received: Counter[str] = field(default_factory=Counter)  # address (wire) -> copies of the second resend


@dataclass
class ResendRecord:
    """A resend schedule's record: the first send's (``base``) and the resend's (``resend``, as ``World`` records
    a send), plus the reads, the audience the harness expects, the workers and the last checks."""

    base: Record
    resend: Record
    source: int | None = None  # the first send's id
    first_accepted: set[str] = field(default_factory=set)  # accepted in the first send's ledger once finished
    first_pending: int = 0  # rows of the first send still pending when the resend began (must be 0)
    reads: list[ReadSeen] = field(default_factory=list)
    expected: set[str] | None = None  # the non-readers on the list, by the harness's count, as the resend started
    scheduled: Output | None = None  # `send --after`
    workers: list[WorkersRecord] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)  # what `Finish` could not finish
    second_early: Output | None = None  # a second resend while the resend was under way
    held_then: dict[str, str] = field(default_factory=dict)  # the resend's rows (email -> state) at that moment
    again: AgainRecord | None = None

    def describe(self) -> str:
        """What happened (printed with a failure)."""
        lines = ["  first send:", self.base.describe(), "  resend:", self.resend.describe(),
                 f"  source send {self.source}: {len(self.first_accepted)} accepted; expected audience "
                 f"{sorted(self.expected) if self.expected is not None else None}",
                 "  reads: " + ", ".join(f"{r.email} {r.verdict} {r.kind} at step {r.step + 1}"
                                         f"{' (after the start)' if r.started else ''}" for r in self.reads)]
        if self.scheduled is not None:
            lines.append(f"  scheduled: exit {self.scheduled.exit_code}: {self.scheduled.stdout.strip()[-200:]}"
                         f"{self.scheduled.stderr.strip()[-200:]}")
        lines.extend(f"  workers at step {w.step + 1}: {w.workers}, started {w.started} {w.errors}" for w in self.workers)
        if self.again is not None:
            a = self.again
            for name, out in (("again", a.again), ("resend of the resend", a.refused), ("second resend", a.second)):
                if out is not None:
                    lines.append(f"  {name}: exit {out.exit_code}: {(out.stdout + out.stderr).strip()[-300:]}")
        return "\n".join(lines)


def coverage(record: ResendRecord) -> Counter[str]:
    """What one played schedule reached (printed in long mode)."""
    seen: Counter[str] = Counter()
    readers = {r.email for r in record.reads if r.is_read and not r.started}
    seen["first-send recipients left out as readers"] += len(readers & record.first_accepted)
    seen["unknown or machine opens still resent"] += len(
        {r.email for r in record.reads if not r.is_read and not r.started} - readers & (record.expected or set()))
    seen["reads after the resend started"] += sum(r.started for r in record.reads)
    seen["resend audience"] += len(record.expected or ())
    seen["resend copies"] += sum(record.resend.received.values())
    seen["resend runs"] += len(record.resend.runs)
    seen["resend runs via sendgrid"] += sum(1 for r in record.resend.runs if r.run.backend == "sendgrid")
    seen["resend process events reached"] += sum(1 for r in record.resend.runs if r.fired)
    seen["resend runs killed"] += sum(1 for r in record.resend.runs if (r.output.exit_code or 0) < 0)
    seen["resend runs paused"] += sum(1 for r in record.resend.runs if r.pause is not None)
    seen["resend second runs refused"] += sum(1 for r in record.resend.runs if r.second is not None)
    seen["left during the resend"] += len(record.resend.leaves)
    seen["in doubt in the resend"] += sum(len(r.after.emails_in("in_doubt")) for r in record.resend.runs)
    seen["resends scheduled with --after"] += record.scheduled is not None
    seen["workers at the resend's time"] += sum(w.workers for w in record.workers)
    if record.again is not None:
        seen["resend of the resend refused"] += record.again.refused.exit_code == 2
        seen["second resends"] += record.again.second is not None
        seen["second resend copies"] += sum(record.again.second_received.values())
    return seen


class ResendWorld(World):
    """``World`` for resend schedules."""

    def play(self, schedule: Schedule, folder: Path) -> ResendRecord:  # type: ignore[override]
        """Play ``schedule``; return the first send's record with the resend's."""
        assert isinstance(schedule, ResendSchedule)
        self.notes = ResendRecord(Record(schedule), Record(schedule))
        self.resending = False
        Target.audience = ""
        try:
            played = super().play(schedule, folder)
        finally:
            Target.audience = ""
        notes, resend = self.notes, self.notes.resend
        # World read the end with the resend as its send: that is the resend's; the first send's is read again.
        resend.received, resend.copies, resend.final = played.received, played.copies, played.final
        resend.people = played.people
        resend.schedule = replace(schedule, members=tuple(sorted(notes.expected or ())), steps=())
        first = f"Harness issue {schedule.seed}"
        played.received, played.copies = self.servers.received(first), self.servers.copies(first)
        played.final = read_ledger(self.database)
        if not self.resending:
            resend.received, resend.copies = Counter(), []
        notes.base = played
        return notes

    # --- which send a step is about ---

    def _enter_resend(self) -> None:
        """From the first step of the resend on: the harness reads the resend, and counts its copies."""
        if self.resending:
            return
        first = read_ledger(self.database)
        self.notes.source = first.send_id
        self.notes.first_accepted = {e for e, (state, _) in first.rows.items() if state == "accepted"}
        self.notes.first_pending = sum(1 for state, _ in first.rows.values() if state in ("queued", "claimed",
                                                                                           "sending"))
        self.resending = True
        Target.audience = f"non-readers-of:{first.send_id}"
        self.subject = resend_subject(self.schedule.seed)

    def _record(self, step: int, record: Record) -> Record:
        assert isinstance(self.schedule, ResendSchedule)
        if step >= self.schedule.resend_from:
            self._enter_resend()
            return self.notes.resend
        return record

    def _change(self, change: Leave | Join, step: int, record: Record) -> None:
        # Who leaves during the resend is the resend's record; who joins never enters a resend (the first's).
        super()._change(change, step, self._record(step, record) if isinstance(change, Leave) else record)

    def _run(self, step: int, run: Any, record: Record) -> None:
        record = self._record(step, record)
        if isinstance(run, Finish):
            self._finish(run, step, record)
        elif isinstance(run, Reads):
            self._read(run, step)
        elif isinstance(run, ScheduleResend):
            self.notes.scheduled = self.cli(*self._plain_args(run.backend), "--after", AFTER_DELAY)
        elif isinstance(run, ResendWorkers):
            self._workers(run, step)
        elif isinstance(run, Again):
            self._again(run)
        elif isinstance(run, SecondResend):
            self.notes.held_then = {e: state for e, (state, _) in read_ledger(self.database).rows.items()}
            self.notes.second_early = self._second(run.backend)
        else:
            self._note_audience()
            super()._run(step, run, record)

    def _plain_args(self, backend: str) -> tuple[str | Path, ...]:
        args = super()._plain_args(backend)
        if not self.resending:
            return args
        return (*args, "--to-non-readers-of", str(self.notes.source), "--subject", self.subject)

    # --- what the harness expects ---

    def _started(self) -> bool:
        """Whether the resend has started (its audience fixed); never before the harness plays it."""
        if not self.resending:
            return False
        with closing(sqlite3.connect(self.database, timeout=60)) as conn:
            send = send_id(conn)
            row = conn.execute("SELECT started_at FROM sends WHERE id = ?", (send,)).fetchone() if send else None
        return bool(row and row[0])

    def _note_audience(self) -> None:
        """Before a step that may start the resend: who it should reach, by the harness's own count (accepted in
        the first send, no read of it, on the list now), as long as it has not started."""
        if not self.resending or self._started():
            return
        readers = {r.email for r in self.notes.reads if r.is_read}
        from newsletter.store.subscribers import ON_LIST

        with closing(sqlite3.connect(self.database, timeout=60)) as conn:
            on_list = {e for (e,) in conn.execute(
                "SELECT s.email FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id"
                f" JOIN lists l ON l.id = m.list_id WHERE l.name = ? AND {ON_LIST}", (LIST,))}
        self.notes.expected = (self.notes.first_accepted & on_list) - readers

    # --- steps ---

    def _finish(self, item: Finish, step: int, record: Record) -> None:
        """Plain runs (with the item's flag, or ``resume``) until nothing is pending and the send is not paused."""
        for _ in range(FINISH_TRIES):
            ledger, release = read_ledger(self.database), read_release(self.database)
            pending = [e for e, (state, _) in ledger.rows.items() if state in ("queued", "claimed", "sending")]
            if ledger.send_id is not None and not pending and not release.paused:
                return
            self._run(step, Run(item.backend, flags=(item.flag,)), record)
        ledger = read_ledger(self.database)
        left = sorted(e for e, (state, _) in ledger.rows.items() if state in ("queued", "claimed", "sending"))
        if ledger.send_id is None or left or read_release(self.database).paused:
            self.notes.unfinished.append(f"step {step + 1}: after {FINISH_TRIES} runs, send {ledger.send_id} "
                                         f"still has {left} pending (paused: {read_release(self.database).paused})")

    def _read(self, item: Reads, step: int) -> None:
        """Opens and clicks of the first send's accepted recipients, judged as the tracking server would."""
        from newsletter.store import connect, transaction

        started = self._started()
        source = self.notes.source if self.resending else read_ledger(self.database).send_id  # (the first send)
        rng = random.Random(self.schedule.seed * 977 + step)
        bounds = (("human", item.human), ("machine", item.machine), ("unknown-open", item.unknown_open),
                  ("unknown-click", item.unknown_click))
        with closing(connect(self.database, migrate_schema=False)) as conn, transaction(conn):
            rows = conn.execute("SELECT d.subscriber_id, p.email FROM deliveries d JOIN subscribers p"
                                " ON p.id = d.subscriber_id WHERE d.send_id = ? AND d.state = 'accepted'"
                                " ORDER BY d.subscriber_id", (source,)).fetchall()
            for subscriber_id, email in rows:
                draw, edge, chosen = rng.random(), 0.0, ""
                for name, share in bounds:
                    edge += share
                    if draw < edge:
                        chosen = name
                        break
                if not chosen:
                    continue
                verdict = chosen.split("-")[0]
                kind = ("click" if chosen == "unknown-click" else "open" if chosen != "human"
                        else rng.choice(("open", "click")))
                conn.execute("INSERT INTO events (source, type, send_id, subscriber_id, occurred_at, attempt, verdict)"
                             " VALUES ('harness', ?, ?, ?, ?, 1, ?)",
                             (kind, source, subscriber_id, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                              verdict))
                self.notes.reads.append(ReadSeen(email, kind, verdict, step, started))

    def _workers(self, item: ResendWorkers, step: int) -> None:
        """Workers together at the source's end plus the delay (threads; the library's ``Worker`` with the
        harness's clock), the servers answering as the item says."""
        from newsletter.release.clock import parse_stamp
        from newsletter.release.worker import Worker
        from newsletter.settings import load_settings

        self._note_audience()
        seen = WorkersRecord(step, item.workers)
        self.notes.workers.append(seen)
        with closing(sqlite3.connect(self.database, timeout=60)) as conn:
            row = conn.execute("SELECT finished_at, backend FROM sends WHERE id = ?", (self.notes.source,)).fetchone()
        later = parse_stamp(row[0]) + timedelta(days=int(AFTER_DELAY[:-1]), minutes=1)
        settings = load_settings(self.env)
        run = Run(row[1], sendgrid_answers=item.answers, rcpt_refusals=item.refusals, data_refusals=item.data_refusals)
        moment = Moment(Process())
        start, lock = threading.Barrier(item.workers), threading.Lock()

        def work(n: int) -> None:
            try:
                start.wait(DEADLINE_S)
                started = Worker(settings, clock=lambda: later, name=f"harness resend worker {n}").run_once()
                with lock:
                    seen.started.extend((s.send_id, s.state) for s in started)
            except Exception as exc:
                with lock:
                    seen.errors.append(f"{type(exc).__name__}: {exc}")

        self._arm(run, moment)
        try:
            with tuned(self.schedule.batch):
                threads = [threading.Thread(target=work, args=(n,), name=f"harness-resend-worker-{n}")
                           for n in range(item.workers)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(DEADLINE_S)
        finally:
            moment.end()
            self._disarm(run)

    def _again(self, item: Again) -> None:
        """The resend finished: its command again (sends nothing), a resend of the resend (refused), and
        perhaps a second resend of the first send with a condition (overlapping the first resend in nobody)."""
        args = self._plain_args(item.backend)
        before, copies = read_ledger(self.database), self._copies()
        again = self.cli(*args)
        ledgers, copied = (before, read_ledger(self.database)), (copies, self._copies())
        resend = before.send_id
        footprint, copies = self._footprint(), self._copies()
        refused = self.cli(*args[: args.index("--to-non-readers-of")], "--to-non-readers-of", str(resend or 0),
                           "--subject", resend_subject(self.schedule.seed, True))
        record = AgainRecord(again, ledgers, copied, refused, (footprint, self._footprint()), (copies, self._copies()))
        self.notes.again = record
        if not item.second and self.notes.second_early is None:
            return
        second = resend_subject(self.schedule.seed, True)
        record.second = self._second(item.backend)
        with closing(sqlite3.connect(self.database, timeout=60)) as conn:
            record.second_rows = {e: s for e, s in conn.execute(
                "SELECT p.email, d.state FROM deliveries d JOIN subscribers p ON p.id = d.subscriber_id"
                " JOIN sends s ON s.id = d.send_id WHERE s.audience LIKE ?", (f"non-readers-of:{self.notes.source} %",))}
        record.second_received = self.servers.received(second)

    def _second(self, backend: str) -> Output:
        """A second resend of the first send, with a condition and a subject of its own (runs to its end)."""
        args = self._plain_args(backend)
        return self.cli(*args[: args.index("--subject")], "--subject", resend_subject(self.schedule.seed, True),
                        "--where", SECOND_WHERE)


def play_resend(world: ResendWorld, seed: int, folder: Path) -> tuple[list[str], ResendRecord | None]:
    """Play the resend schedule of ``seed``: its report if a promise broke, else [], and its record."""
    import traceback

    from tests.delivery.harness.resend_invariants import check_resend
    from tests.delivery.harness.resend_schedule import make_resend_schedule
    from tests.delivery.harness.runner import replay_hint

    schedule = make_resend_schedule(seed)
    hint = replay_hint(seed).replace("make harness", "make harness HARNESS_RESENDS=1")
    try:
        record = world.play(schedule, folder)
    except Exception:
        return [f"FAILED resend seed {seed}: the schedule could not be played", schedule.describe(),
                traceback.format_exc(), hint], None
    problems = check_resend(record)
    if not problems:
        return [], record
    return [f"FAILED resend seed {seed}:", *(f"  - {p}" for p in problems), schedule.describe(),
            record.describe(), hint], record
