"""Playing a subject-test schedule (``subject_schedule.py``): ``World`` with the test's options on the first
``send``, the engagement written as the tracking server would judge it, the pick by workers or by
``newsletter pick``, and a record of every copy's subject (``SubjectRecord``) for ``subject_invariants``."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.delivery.harness.record import LeaveRecord, Record, read_ledger, send_id
from tests.delivery.harness.schedule import Leave, Run, Schedule
from tests.delivery.harness.servers import DEADLINE_S, Output, wire
from tests.delivery.harness.subject_schedule import Engagement, PickRun, TestRun, WorkerPick, subject_of, test_options
from tests.delivery.harness.tuning import tuned
from tests.delivery.harness.world import World


@dataclass
class PickRecord:
    """The pick step: who was held just before it, what the workers (or ``pick``) said, the decision after."""

    step: int
    held: set[str]
    how: str  # "workers" or "pick"
    started: list[tuple[int, str]] = field(default_factory=list)  # the workers' sends: (send id, state)
    direct: list[str] = field(default_factory=list)  # what the workers' own ``pick_due`` calls said
    output: Output | None = None
    errors: list[str] = field(default_factory=list)  # exceptions in the workers' threads


@dataclass
class SubjectRecord:
    """A subject-test schedule's record: the base record, plus subjects, variants and the decision."""

    base: Record
    rule: str = ""
    engaged: dict[str, Counter[str]] = field(default_factory=dict)  # variant -> human opens/clicks written
    picks: list[PickRecord] = field(default_factory=list)
    test: dict[str, Any] | None = None  # the subject_tests row at the end
    rows: dict[str, tuple[str, str]] = field(default_factory=dict)  # email -> (state, variant) at the end
    subjects: dict[str, list[str]] = field(default_factory=dict)  # address (wire) -> subjects received
    leaves: list[LeaveRecord] = field(default_factory=list)

    def describe(self) -> str:
        """What happened (printed with a failure)."""
        lines = [self.base.describe(), f"  rule {self.rule}; engagement written: {self.engaged}"]
        for p in self.picks:
            out = p.output
            said = f"exit {out.exit_code}: {(out.stdout + out.stderr).strip()[-300:]}" if out else ""
            lines.append(f"  pick at step {p.step + 1} by {p.how}: {len(p.held)} held; started {p.started}; "
                         f"direct {p.direct}; {said} {p.errors}")
        lines.append(f"  decision: {self.test}")
        return "\n".join(lines)


def coverage(record: SubjectRecord) -> Counter[str]:
    """What one played schedule reached (printed in long mode)."""
    seen: Counter[str] = Counter({f"rule {record.rule}": 1, "decided": bool(record.test and record.test["winner"])})
    for p in record.picks:
        seen[f"pick by {p.how}"] += 1
        seen["pick killed while sending the rest"] += p.output is not None and (p.output.exit_code or 0) < 0
        if p.how == "workers":
            seen[f"{len(p.direct)} worker(s) together at the pick"] += 1
        seen["worker told someone else decided"] += sum("someone else" in d for d in p.direct)
    seen["held members who left"] += sum(1 for leave in record.leaves if leave.state_at == "held")
    seen["runs killed"] += sum(1 for r in record.base.runs if (r.output.exit_code or 0) < 0)
    seen["copies received"] += sum(len(s) for s in record.subjects.values())
    seen["copies of B or C"] += sum(1 for s in record.subjects.values() for x in s if x.endswith((" B", " C")))
    return seen


class SubjectWorld(World):
    """``World`` for schedules with a subject test."""

    def play(self, schedule: Schedule, folder: Path) -> SubjectRecord:  # type: ignore[override]
        """Play ``schedule``; return the base record with the test's."""
        self.notes = SubjectRecord(Record(schedule))
        self.notes.rule = next(s.pick for s in schedule.steps if isinstance(s, TestRun))
        self.variant_subjects = {v: subject_of(schedule.seed, v) for v in "ABC"}
        base = super().play(schedule, folder)
        notes = self.notes
        notes.base = base
        with closing(sqlite3.connect(self.database, timeout=60)) as conn:
            conn.row_factory = sqlite3.Row
            send = send_id(conn)
            row = conn.execute("SELECT * FROM subject_tests WHERE send_id = ?", (send,)).fetchone()
            notes.test = dict(row) if row else None
            notes.rows = {r[0]: (r[1], r[2]) for r in conn.execute(
                "SELECT p.email, d.state, d.variant FROM deliveries d JOIN subscribers p ON p.id = d.subscriber_id"
                " WHERE d.send_id = ?", (send,))}
        notes.subjects = self.subjects_received()
        notes.leaves = base.leaves
        return notes

    def subjects_received(self) -> dict[str, list[str]]:
        """Subjects of this schedule's copies received, per address (``wire``), both servers."""
        import email
        import email.policy

        ours = set(self.variant_subjects.values())
        found: dict[str, list[str]] = {}
        with self.servers.sendgrid.lock:
            accepted = list(self.servers.sendgrid.accepted)
        for a in accepted:
            p = a["personalization"]
            subject = p.get("subject", a["body"]["subject"])
            if subject in ours:
                found.setdefault(wire(p["to"][0]["email"]), []).append(subject)
        for _, rcpts, data in list(self.servers.smtp.messages):
            subject = str(email.message_from_bytes(data, policy=email.policy.default)["Subject"])
            if subject in ours:
                for r in rcpts:
                    found.setdefault(wire(r), []).append(subject)
        return found

    def _send_args(self, run: Run) -> tuple[str | Path, ...]:
        if isinstance(run, PickRun):
            return ("pick", str(read_ledger(self.database).send_id), run.variant, "--yes")
        args = super()._send_args(run)
        if isinstance(run, TestRun) and read_ledger(self.database).send_id is None:
            return (*args, *test_options(run, self.schedule.seed))
        return args

    def _leave(self, leave: Leave, step: int) -> list[LeaveRecord]:
        # As World's, with the copies of every variant counted (World counts the issue's own subject).
        records = super()._leave(leave, step)
        received = Counter({a: len(s) for a, s in self.subjects_received().items()})
        for r in records:
            r.received_at = received[wire(r.email)]
        return records

    def _run(self, step: int, run: Any, record: Record) -> None:
        if isinstance(run, Engagement):
            self._engage(run, step)
        elif isinstance(run, WorkerPick):
            self._workers(run, step)
        elif isinstance(run, PickRun):
            pick = PickRecord(step, self._held(), "pick")
            self.notes.picks.append(pick)
            super()._run(step, run, record)
            pick.output = record.runs[-1].output
        else:
            super()._run(step, run, record)

    def _held(self) -> set[str]:
        with closing(sqlite3.connect(self.database, timeout=60)) as conn:
            return {r[0] for r in conn.execute(
                "SELECT p.email FROM deliveries d JOIN subscribers p ON p.id = d.subscriber_id"
                " WHERE d.send_id = ? AND d.state = 'held'", (send_id(conn),))}

    def _engage(self, item: Engagement, step: int) -> None:
        """Opens or clicks of accepted test recipients, judged human or machine (as the tracking server would)."""
        import random

        from newsletter.store import connect, transaction

        rng = random.Random(self.schedule.seed * 977 + step)
        with closing(connect(self.database, migrate_schema=False)) as conn, transaction(conn):
            send = send_id(conn)  # type: ignore[arg-type]
            rows = conn.execute("SELECT subscriber_id, variant FROM deliveries WHERE send_id = ? AND state = 'accepted'"
                                " AND variant != '' ORDER BY subscriber_id", (send,)).fetchall()
            for subscriber_id, variant in rows:
                draw = rng.random()
                verdict = "human" if draw < item.human else "machine" if draw < item.human + item.machine else ""
                if not verdict:
                    continue
                kind = item.kind if verdict == "human" else "open"  # a proxy's open
                conn.execute("INSERT INTO events (source, type, send_id, subscriber_id, occurred_at, attempt, verdict)"
                             " VALUES ('harness', ?, ?, ?, ?, 1, ?)",
                             (kind, send, subscriber_id, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), verdict))
                if verdict == "human":
                    self.notes.engaged.setdefault(variant, Counter())[f"{kind}s"] += 1

    def _workers(self, item: WorkerPick, step: int) -> None:
        """Workers at the time of the pick, together: each runs ``run_once`` and asks for the pick directly."""
        from newsletter.release.subject_tests import pick_due
        from newsletter.release.worker import Worker
        from newsletter.settings import load_settings
        from newsletter.store import session

        pick = PickRecord(step, self._held(), "workers")
        self.notes.picks.append(pick)
        send = read_ledger(self.database).send_id
        settings = load_settings(self.env)
        later = datetime.now(UTC) + timedelta(seconds=3600 + 120)
        start = threading.Barrier(item.workers)
        lock = threading.Lock()

        def work(n: int) -> None:
            try:
                start.wait(DEADLINE_S)
                with session(str(self.database)) as conn:
                    said = pick_due(conn, send, by=f"harness worker {n}", now=later) if send else ""
                started = Worker(settings, clock=lambda: later, name=f"harness worker {n}").run_once()
                with lock:
                    pick.direct.append(said)
                    pick.started.extend((s.send_id, s.state) for s in started)
            except Exception as exc:
                with lock:
                    pick.errors.append(f"{type(exc).__name__}: {exc}")

        with tuned(self.schedule.batch):
            threads = [threading.Thread(target=work, args=(n,), name=f"harness-worker-{n}") for n in range(item.workers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(DEADLINE_S)


def play_subject(world: SubjectWorld, seed: int, folder: Path) -> tuple[list[str], SubjectRecord | None]:
    """Play the subject-test schedule of ``seed``: its report if a promise broke, else [], and its record."""
    import traceback

    from tests.delivery.harness.runner import replay_hint
    from tests.delivery.harness.subject_invariants import check_subject_test
    from tests.delivery.harness.subject_schedule import make_subject_schedule

    schedule = make_subject_schedule(seed)
    hint = replay_hint(seed).replace("make harness", "make harness HARNESS_SUBJECTS=1")
    try:
        record = world.play(schedule, folder)
    except Exception:
        return [f"FAILED subject-test seed {seed}: the schedule could not be played", schedule.describe(),
                traceback.format_exc(), hint], None
    problems = check_subject_test(record)
    if not problems:
        return [], record
    return [f"FAILED subject-test seed {seed}:", *(f"  - {p}" for p in problems), schedule.describe(),
            record.describe(), hint], record

