"""Playing many schedules and counting how many held."""

from __future__ import annotations

import shutil
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.delivery.harness.invariants import check
from tests.delivery.harness.record import Record
from tests.delivery.harness.schedule import make_schedule
from tests.delivery.harness.world import World


@dataclass
class Tally:
    """How many schedules were played and held, and the report of each that did not."""

    played: int = 0
    held: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    seen: Counter[str] = field(default_factory=Counter)  # how often each kind of event really happened

    def line(self) -> str:
        """One line for the end of a run of the harness."""
        return (f"harness: {self.held} of {self.played} schedules held, {len(self.failures)} failed "
                f"({self.seconds:.0f} s)")

    def coverage(self) -> str:
        """What the schedules played really reached (a schedule's event may come after its run ended)."""
        return "harness reached: " + ", ".join(f"{k} {n}" for k, n in sorted(self.seen.items()))

    def count(self, record: Record) -> None:
        """Add what ``record`` reached to ``seen``."""
        seen = self.seen
        for sched in record.scheduled:
            seen["scheduled sendgrid sends with leavers"] += 1
            seen["leavers before a scheduled time suppressed"] += sum(
                1 for leave in record.leaves if leave.step == sched.step and sched.after.state(leave.email) == "suppressed")
        for r in record.runs:
            seen[f"runs {r.run.backend}"] += 1
            seen[f"exit {r.output.exit_code}"] += 1
            if r.run.process.kind != "inline" and r.fired:
                seen[f"{r.run.process.kind} at {r.run.process.phase}"] += 1
            if r.second is not None:
                seen["second run refused"] += r.second.output.exit_code == 1
            seen["frozen run taken over"] += r.takeover is not None
            if r.second is not None and r.run.process.skewed:
                seen["skewed second run refused"] += r.second.output.exit_code == 1
            if r.second is not None and r.run.process.same_host:
                seen["stopped run of this host kept after its lease"] += r.second.output.exit_code == 1
            to_act_on = {
                "--resend-in-doubt": r.grants, "--skip-in-doubt": r.before.emails_in("in_doubt"),
                "--retry-failed": r.before.emails_in("failed"),
                "--include-new": {j for j, step in record.joins.items() if step < r.step and j not in r.before.rows},
            }
            for flag in r.run.flags:
                seen[f"{flag} with rows to act on"] += bool(to_act_on[flag])
            seen.update(f"answer {a}" for a in r.answers_used if a)
            if r.run.backend == "sendgrid":
                seen[f"sendgrid runs with {r.run.concurrency} in flight allowed"] += 1
                seen["sendgrid runs with 2+ requests in flight at once"] += r.most_in_flight >= 2
                if r.fired and r.run.process.kind != "inline":
                    seen["process event with 2+ requests in flight"] += r.in_flight_at_event >= 2
            if r.pause is not None:
                seen["pause during a run" if r.pause.during else "pause after a run"] += 1
                seen["pause held an answer over 1 s"] += r.pause.during and r.pause.seconds > 1.0
            seen["send refused while paused"] += r.blocked is not None
            seen["resumed"] += r.run.resumed
            seen["resume that only lifted the pause"] += r.resume_only is not None
            seen["in doubt after a run"] += len(r.after.emails_in("in_doubt") - r.before.emails_in("in_doubt"))
        seen.update(f"left with row {leave.state_at}" for leave in record.leaves)
        seen["joined"] += len(record.joins)
        seen["copies resent to rows in doubt"] += sum(max(0, n - 1) for n in record.received.values())


def replay_hint(seed: int) -> str:
    """How to play one schedule again."""
    return f"replay: make harness HARNESS_SEED={seed} HARNESS_SCHEDULES=1"


def play_one(world: World, seed: int, folder: Path) -> tuple[list[str], Record | None]:
    """Play the schedule of ``seed``: its report if a promise broke (or the harness failed), else [], and its record."""
    schedule = make_schedule(seed)
    try:
        record = world.play(schedule, folder)
    except Exception:  # the harness itself failed: a failure of this seed, with its traceback
        return [f"FAILED seed {seed}: the schedule could not be played", schedule.describe(),
                traceback.format_exc(), replay_hint(seed)], None
    problems = check(record)
    if not problems:
        return [], record
    return [f"FAILED seed {seed}:", *(f"  - {p}" for p in problems), schedule.describe(), record.describe(),
            replay_hint(seed)], record


def play_many(world: World, seeds: Iterable[int], folder: Path, *,
              say: Callable[[str], None] = lambda line: None, every: int = 0) -> Tally:
    """Play each seed's schedule in a folder of its own (kept only when it failed); ``say`` progress every ``every``."""
    tally, started = Tally(), time.monotonic()
    for seed in seeds:
        where = folder / f"seed-{seed}"
        report, record = play_one(world, seed, where)
        tally.played += 1
        if record is not None:
            tally.count(record)
        if report:
            tally.failures.append("\n".join(report))
            say(tally.failures[-1])
        else:
            tally.held += 1
            shutil.rmtree(where, ignore_errors=True)
        tally.seconds = time.monotonic() - started
        if every and tally.played % every == 0:
            say(tally.line())
    return tally
