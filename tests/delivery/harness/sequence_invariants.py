"""The promises of welcome emails and sequences, checked after every sequence schedule against what the
SMTP server received.

1. Nobody receives a step twice (kills, several workers at once, restarts).
2. Nobody who left receives a step after leaving (unless its row was already claimed or on the wire).
3. Every enrolled member still on the list at the end has a row of every step, and it says what became
   of it: accepted (received once), suppressed only because their ``plan`` does not match the step's
   condition (received nothing), failed only for an address the server refuses, in doubt only after a
   worker was killed. Accepted means received; failed and suppressed mean not received.
4. Every worker that was not killed ends with exit 0 or 3 (incomplete: some rows failed or in doubt),
   without a crash; every copy is its recipient's own.
5. A paused sequence sends nothing from the moment the pause is recorded until it is resumed, but what was
   in flight then (rows claimed or sending: the batches on the wire, which end as they would): each of
   those at most once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from tests.delivery.harness.sequence_world import SequenceRecord, SequenceWorld
from tests.delivery.harness.servers import wire

NOT_MATCHED = "not sent: the member does not match the step's conditions"


def _matches(where: str, plan: str) -> bool:
    if not where:
        return True
    key_value = where.replace("!=", "=")
    value = key_value.split("=", 1)[1]
    return (plan == value) != ("!=" in where)


def check_sequences(record: SequenceRecord) -> list[str]:
    """Every broken promise of ``record``, in words (empty: the schedule held)."""
    problems: list[str] = []
    schedule = record.schedule
    for event, what, out in record.outputs:
        text = out.stdout + out.stderr + out.crash
        if "Traceback" in text or "Internal error" in text or out.crash:
            problems.append(f"event {event}: the {what} crashed: {text.strip()[-400:]}")
        elif what == "worker" and out.exit_code not in (0, 3):
            problems.append(f"event {event}: a worker exited {out.exit_code}: {text.strip()[-300:]}")
    left = {leave.email for leave in record.leaves}
    for slug, received in record.received.items():
        rows = record.rows.get(slug, {})
        for email, copies in received.items():
            if copies > 1:
                problems.append(f"{email} received {slug} {copies} times")
        for email, (state, _) in rows.items():
            copies = received[wire(email)]
            if state == "accepted" and copies != 1:
                problems.append(f"{email}'s row of {slug} is accepted, yet they received {copies} copies")
            if state in ("failed", "suppressed", "queued") and copies:
                problems.append(f"{email}'s row of {slug} is {state}, yet they received {copies} copies")
            if state == "failed" and email not in schedule.refused:
                problems.append(f"{email}'s row of {slug} failed, yet the server takes their mail")
            if state == "in_doubt" and not record.killed:
                problems.append(f"{email}'s row of {slug} is in doubt, yet no worker was killed")
    for leave in record.leaves:
        for slug, had in leave.received.items():
            if leave.states.get(slug) in ("claimed", "sending"):
                continue  # on its way when they left
            now = record.received[slug][wire(leave.email)]
            if now != had:
                problems.append(f"{leave.email} left at event {leave.event} with the row of {slug} "
                                f"{leave.states.get(slug)}, then received {now - had} more")
    for email in record.joined:
        if email in left:
            continue
        for name, slugs in record.slugs.items():
            for slug in slugs:
                problems.extend(_step_problems(record, email, name, slug))
    problems.extend(_pause_problems(record))
    for copy in record.copies:
        if copy.email != copy.to or copy.name != copy.to:
            problems.append(f"{copy.to} received a copy made for {copy.email} (greeting {copy.name!r})")
    return problems


def _pause_problems(record: SequenceRecord) -> list[str]:
    """Promise 5: between each pause and its resume, only rows in flight at the pause were received."""
    problems = []
    for seen in record.pauses:
        if not seen.resumed:
            problems.append(f"sequence {seen.name} paused at event {seen.event} was never resumed")
            continue
        for slug, now in seen.at_resume.items():
            for address, n in now.items():
                more = n - seen.at_pause[slug][address]
                if more and (slug, address) not in seen.in_flight:
                    problems.append(f"{address} received {slug} {more} time(s) while sequence {seen.name} was paused "
                                    f"(events {seen.event}-{seen.resumed}), not in flight at the pause")
                elif more > 1:
                    problems.append(f"{address} received {slug} {more} times while sequence {seen.name} was paused")
    return problems


def _step_problems(record: SequenceRecord, email: str, name: str, slug: str) -> list[str]:
    """Promise 3 for one member still on the list and one step."""
    row = record.rows[slug].get(email)
    if row is None:
        return [f"{email} is on the list and enrolled, yet has no row of {name} step {slug}"]
    state, error = row
    matches = _matches(record.wheres.get(slug, ""), record.schedule.plans[email])
    if not matches and (state, error) != ("suppressed", NOT_MATCHED):
        return [f"{email} (plan {record.schedule.plans[email]}) does not match {slug}'s condition, yet the row "
                f"says {state} {error!r}"]
    if matches and state not in ("accepted", "failed", "in_doubt"):
        return [f"{email} is on the list and matches {slug}, yet the row says {state} {error!r}"]
    return []


def play_sequences(world: SequenceWorld, seeds: Iterable[int], folder: Path,
                   say: Callable[[str], None] = lambda line: None) -> tuple[int, list[str], Counter[str]]:
    """Play each seed's sequence schedule in a folder of its own (kept only when it failed); return how many
    were played, the report of each that failed, and what they reached."""
    import shutil
    import traceback

    from tests.delivery.harness.sequence_schedule import make_sequence_schedule

    played, failures, seen = 0, [], Counter[str]()
    for seed in seeds:
        schedule = make_sequence_schedule(seed)
        where = folder / f"sequence-seed-{seed}"
        try:
            record = world.play(schedule, where)
            problems = check_sequences(record)
        except Exception:  # the harness itself failed: a failure of this seed, with its traceback
            problems, record = [traceback.format_exc()], None
        played += 1
        if record is not None:
            seen["workers killed mid-run"] += record.killed
            seen["members who left"] += len(record.leaves)
            seen["rows in doubt"] += sum(s == "in_doubt" for rows in record.rows.values() for s, _ in rows.values())
            seen["rows suppressed by a condition"] += sum(e == NOT_MATCHED for rows in record.rows.values()
                                                          for _, e in rows.values())
            seen["copies received"] += sum(sum(c.values()) for c in record.received.values())
            seen["pauses while workers sent"] += sum(p.during_workers for p in record.pauses)
            seen["pauses between events"] += sum(not p.during_workers for p in record.pauses)
            seen["rows in flight at a pause"] += sum(len(p.in_flight) for p in record.pauses)
        if problems:
            report = "\n".join([f"FAILED sequence seed {seed}:", *(f"  - {p}" for p in problems), schedule.describe(),
                                record.describe() if record else "",
                                f"replay: make harness HARNESS_SEED={seed} HARNESS_SCHEDULES=1"])
            failures.append(report)
            say(report)
        else:
            shutil.rmtree(where, ignore_errors=True)
    return played, failures, seen
