"""Schedules of welcome emails and sequences (issue 24), drawn from a seed like the send schedules.

Every schedule attaches a welcome email (a sequence of one step) to the list, and most also a sequence
of two or three steps (no delay: the worker's real clock decides; a step may hold a condition on the
member's ``plan``). Then, in order: members join (enrolled, with ``subscribers add --welcome``'s code
path), members leave (unsubscribed), one or several ``newsletter worker --once`` run at the same time in
processes of their own (members may leave while they run), a worker is killed (SIGKILL) at the n-th SMTP message of its run (``lost``:
before the server takes it; ``taken``: taken, not answered), and the SMTP server refuses some members for
good. Most schedules also pause the welcome email or the sequence (``sequences pause``), while workers send
a step (once the server took n messages) or between events, and resume it later: joins, leaves, workers and
kills go on meanwhile. The schedule ends with one worker left to run to its end.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

#: Kinds of event, with weights.
EVENTS = (("join", 3.0), ("leave", 1.5), ("workers", 3.0), ("kill", 2.5))


@dataclass(frozen=True)
class SequenceStep:
    """One step of the sequence file: its delay (always 0: after joining, or after the previous step) and its
    condition on ``plan`` ('' for none)."""

    after_previous: bool
    where: str = ""

    def toml(self, issue: str) -> str:
        """The step's table in the sequence file."""
        delay = 'after_previous = "0"' if self.after_previous else 'after_joining = "0"'
        where = f'\nwhere = ["{self.where}"]' if self.where else ""
        return f'[[step]]\nissue = "{issue}"\n{delay}{where}\n'


@dataclass(frozen=True)
class Event:
    """``join``/``leave`` (``who``), ``workers`` (``n`` at once; ``who`` leave while they run, once the server
    took ``at`` messages; sequence ``pause`` is paused once it took ``pause_at``), ``kill`` (one worker, SIGKILL
    at the ``at``-th message in ``phase``), or ``pause``/``resume`` of the sequence named in ``who``."""

    kind: str
    who: tuple[str, ...] = ()
    n: int = 1
    at: int = 0
    phase: str = "taken"
    pause: str = ""
    pause_at: int = 0

    def describe(self) -> str:
        if self.kind in ("join", "leave"):
            return f"{self.kind}: {', '.join(self.who)}"
        if self.kind in ("pause", "resume"):
            return f"{self.kind} sequence {self.who[0]}"
        if self.kind == "workers":
            leaving = f"; {', '.join(self.who)} leave after {self.at} messages taken" if self.who else ""
            pausing = f"; sequence {self.pause} paused after {self.pause_at} messages taken" if self.pause else ""
            return f"{self.n} worker(s) at once, each to its end{leaving}{pausing}"
        return f"a worker killed at its message {self.at} ({self.phase})"


@dataclass(frozen=True)
class SequenceSchedule:
    """The people, the sequence's steps (none: only the welcome email), the refusals and the events."""

    seed: int
    members: tuple[str, ...]  # on the list (and enrolled) before the first event
    plans: dict[str, str]  # every person's attribute ``plan``
    steps: tuple[SequenceStep, ...]
    refused: tuple[str, ...]  # the SMTP server refuses them for good (550 at RCPT)
    connections: int
    events: tuple[Event, ...]

    def describe(self) -> str:
        """The schedule, one event a line (printed with a failure)."""
        shown = "; ".join(f"step {i}: {'after previous' if s.after_previous else 'after joining'}"
                          + (f" where {s.where}" if s.where else "") for i, s in enumerate(self.steps, 1))
        lines = [f"sequence seed {self.seed}: {len(self.members)} members, welcome email"
                 + (f" and a sequence ({shown})" if self.steps else " only")
                 + f", {self.connections} SMTP connection(s), refused: {', '.join(self.refused) or 'nobody'}"]
        lines += [f"  {i}. {e.describe()}" for i, e in enumerate(self.events, 1)]
        return "\n".join(lines)


def make_sequence_schedule(seed: int) -> SequenceSchedule:
    """The sequence schedule of ``seed`` (deterministic)."""
    rng = random.Random(seed * 104729 + 24)
    members = tuple(f"s{i}@example.org" for i in range(1, rng.randint(3, 10) + 1))
    steps: tuple[SequenceStep, ...] = ()
    if rng.random() < 0.75:
        count = rng.randint(2, 3)
        steps = tuple(SequenceStep(after_previous=i > 0 and rng.random() < 0.7,
                                   where=rng.choice(("", "", "plan=pro", "plan!=pro")) if i else "")
                      for i in range(count))
    joined = 0
    events: list[Event] = []
    everyone = list(members)
    for _ in range(rng.randint(3, 7)):
        kind = rng.choices([k for k, _ in EVENTS], [w for _, w in EVENTS])[0]
        if kind == "join":
            who = tuple(f"j{joined + k}@example.org" for k in range(1, rng.randint(1, 3) + 1))
            joined += len(who)
            everyone += who
            events.append(Event("join", who))
        elif kind == "leave":
            events.append(Event("leave", tuple(sorted(rng.sample(everyone, rng.randint(1, min(2, len(everyone))))))))
        elif kind == "workers":  # some leave while they run, once the server took `at` messages
            leavers = tuple(sorted(rng.sample(everyone, rng.randint(1, min(2, len(everyone)))))) \
                if rng.random() < 0.4 else ()
            events.append(Event("workers", leavers, n=rng.randint(1, 3), at=rng.randint(1, 4)))
        else:
            events.append(Event("kill", at=rng.randint(1, 4), phase=rng.choice(("lost", "taken"))))
    events = _with_pauses(seed, events, bool(steps))
    events.append(Event("workers", n=1))  # the last one runs to its end
    plans = {email: rng.choice(("pro", "free")) for email in everyone}
    refused = tuple(e for e in everyone if rng.random() < 0.08)
    return SequenceSchedule(seed, members, plans, steps, refused, rng.randint(1, 2), tuple(events))


def _with_pauses(seed: int, events: list[Event], sequence: bool) -> list[Event]:
    """``events`` with a pause of the welcome email or the sequence (most schedules), while a ``workers`` event
    sends (after 1-4 messages taken) or between two events, and its resume at a later point (before the last
    worker at the latest). Drawn from a random of their own, so the rest of each seed's schedule is as before."""
    rng = random.Random(seed * 7919 + 2424)
    if rng.random() < 0.25:
        return events
    name = "onboarding" if sequence and rng.random() < 0.7 else "welcome"
    events = list(events)
    workers = [i for i, e in enumerate(events) if e.kind == "workers" and not e.pause]
    if workers and rng.random() < 0.6:
        at = rng.choice(workers)
        events[at] = replace(events[at], pause=name, pause_at=rng.randint(1, 4))
    else:
        at = rng.randint(0, len(events))
        events.insert(at, Event("pause", (name,)))
    events.insert(rng.randint(at + 1, len(events)), Event("resume", (name,)))
    return events
