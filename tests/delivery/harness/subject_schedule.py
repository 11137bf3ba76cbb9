"""Schedules with a subject test (issue 24): the send's schedule of ``schedule.make_schedule`` (kills, SIGTERM,
pauses, concurrent and stopped runs, members leaving and joining), its first run made a subject test, then the
pick and the rest of the audience.

1. the test phase: the base schedule's steps up to a cut, its first run ``send --subject-b ... [--subject-c ...]
   --test N% --wait 1h --pick RULE`` (``TestRun``); then one plain run that finishes the test groups (or
   ``resume`` when the send is paused);
2. members leave (held ones among them) and the test recipients open and click: some human, some machine
   (``Engagement``: only human ones may count);
3. the pick: several ``newsletter worker``s at the time of the pick, in threads, each also asking for the pick
   directly (``WorkerPick``), or ``newsletter pick SEND V`` in a process of its own that may be killed while it
   sends the rest (``PickRun``: a manual test, or an early pick);
4. the rest of the base schedule (more runs, kills, pauses, leaves), and a last plain run.

``--resend-in-doubt`` is left out, so "never two copies" holds without exception.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace

from tests.delivery.harness.schedule import Leave, Process, Report, Run, Schedule, Scheduled, make_schedule

WAIT_S = 3600


@dataclass(frozen=True)
class TestRun(Run):
    """The run that starts the send with a subject test."""

    share: int = 30
    variants: int = 2
    pick: str = "clicks"

    def describe(self) -> str:
        return f"subject test of {self.variants} variants on {self.share}%, pick {self.pick}; " + super().describe()


@dataclass(frozen=True)
class PickRun(Run):
    """``newsletter pick SEND VARIANT --yes``, which records the decision and sends the rest here."""

    variant: str = "B"

    def describe(self) -> str:
        return f"pick {self.variant}; " + super().describe()


@dataclass(frozen=True)
class Engagement:
    """Opens and clicks of the test recipients so far: a share human, a share machine (Apple's proxy)."""

    kind: str
    human: float
    machine: float

    def describe(self) -> str:
        return f"{self.kind}s: {self.human:.0%} human, {self.machine:.0%} machine"


@dataclass(frozen=True)
class WorkerPick:
    """``workers`` workers at the time of the pick (threads, the library with the harness's clock)."""

    workers: int

    def describe(self) -> str:
        return f"{self.workers} workers at the time of the pick"


def test_options(run: TestRun, seed: int) -> tuple[str, ...]:
    """The options of the test's ``send``."""
    subjects = ("--subject-b", subject_of(seed, "B")) + (("--subject-c", subject_of(seed, "C")) if run.variants == 3
                                                         else ())
    return (*subjects, "--test", f"{run.share}%", "--wait", f"{WAIT_S // 60}m", "--pick", run.pick)


def subject_of(seed: int, variant: str) -> str:
    """The subject of ``variant`` in the schedule of ``seed`` (A is the issue's: "Harness issue SEED")."""
    return f"Harness issue {seed}" + ("" if variant == "A" else f" {variant}")


def _plain(run: Run) -> Run:
    return replace(run, flags=tuple(f for f in run.flags if f != "--resend-in-doubt"))


def make_subject_schedule(seed: int) -> Schedule:
    """The subject-test schedule of ``seed`` (deterministic)."""
    base = make_schedule(seed)
    rng = random.Random(seed * 31 + 24)
    steps = [_plain(s) if isinstance(s, Run) else s for s in base.steps if not isinstance(s, (Scheduled, Report))]
    first = next(i for i, s in enumerate(steps) if isinstance(s, Run))
    run = steps[first]
    assert isinstance(run, Run)
    pick = rng.choice(("clicks", "opens", "manual"))
    steps[first] = TestRun(**{f.name: getattr(run, f.name) for f in fields(Run)}, share=rng.choice((20, 34, 50, 70)),
                           variants=rng.choice((2, 3)), pick=pick)
    cut = rng.randint(first + 1, len(steps))
    backend = next(s.backend for s in reversed(steps[:cut]) if isinstance(s, Run))
    middle: list = [Run(backend)]  # finish the test groups (or resume them)
    if rng.random() < 0.5:
        middle.append(Leave(tuple(sorted(rng.sample(base.members, rng.randint(1, min(3, len(base.members)))))),
                      rng.choice(("unsubscribed", "bounced"))))
    middle.append(Engagement("open" if pick == "opens" else "click", rng.choice((0.2, 0.5)), rng.choice((0.0, 0.3))))
    if pick != "manual" and rng.random() < 0.7:
        middle.append(WorkerPick(rng.choice((1, 2, 3))))
    else:
        kind = rng.choices(("inline", "kill", "term"), (2.0, 2.0, 1.0))[0]
        process = Process() if kind == "inline" else Process(kind, rng.randint(1, 3), rng.choice(("lost", "taken")))
        middle.append(PickRun(backend, process=process, variant=rng.choice(("A", "B"))))
    return replace(base, steps=(*steps[:cut], *middle, *steps[cut:], Run(backend)))
