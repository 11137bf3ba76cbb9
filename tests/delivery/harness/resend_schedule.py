"""Schedules of a resend to the non-readers (issue 24), drawn from a seed like the send schedules.

The send's schedule of ``schedule.make_schedule`` is cut in two:

1. the first send: its steps up to its first or second run (kills, SIGTERM, pauses, concurrent and stopped
   runs, members leaving and joining, the providers' refusals), then ``Finish``: plain runs with
   ``--resend-in-doubt`` or ``--skip-in-doubt`` until nothing is pending (only a finished send is resent);
2. ``Reads``: opens and clicks of its recipients, judged ``human``, ``machine`` or ``unknown`` (as the tracking
   server would), and perhaps members leaving;
3. the resend, ``send ISSUE --list L --to-non-readers-of SEND --subject "Harness resend SEED"``: the base
   schedule's later runs, under their faults (``--include-new`` left out: a resend refuses it), with more
   ``Reads`` between them (after the resend started they must change nothing); or, now and then, scheduled
   with ``--after 3d`` (``ScheduleResend``), read meanwhile, then started by several workers at once at the
   source's end plus three days on the harness's clock (``ResendWorkers``, threads, the library's ``Worker``
   with a clock: the CLI's clock is the real one), under SendGrid answers or SMTP refusals, then the later runs;
   Now and then a second resend of SEND with a condition (``--where``) comes while the resend is under way
   (``SecondResend``): it must leave out everyone the resend holds;
4. ``Finish`` again for the resend, then ``Again``: the resend command once more (it must send nothing), a resend
   of the resend (refused, exit 2), and sometimes a second resend of SEND with a condition (``--where``), which
   must overlap the first resend in nobody.

The resend's own subject tells its copies from the first send's on the servers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from tests.delivery.harness.schedule import (
    DATA_REFUSALS,
    RCPT_REFUSALS,
    Join,
    Leave,
    Process,
    Report,
    Run,
    Schedule,
    Scheduled,
    _refusals,
    _sendgrid_answers,
    make_schedule,
)

#: How often the resend is scheduled with ``--after`` and started by workers on the harness's clock.
AFTER = 0.3
#: The delay of ``--after``.
AFTER_DELAY = "3d"
#: How often a second resend of SEND with a condition is tried at the end.
SECOND = 0.5
#: How often the run that starts the resend is killed, stopped or met by a second run (at its unit 1 to 3).
EVENT_FIRST = 0.75
#: How often a second resend comes while the first is under way (after its first run).
SECOND_EARLY = 0.3
#: The condition of that second resend (every member matches it: only the first resend's rows keep people out).
SECOND_WHERE = "city!=Atlantis"


def resend_subject(seed: int, second: bool = False) -> str:
    """The subject the resend (or the second resend) of the schedule of ``seed`` goes out with."""
    return f"Harness resend {'two ' if second else ''}{seed}"


@dataclass(frozen=True)
class Finish:
    """Plain runs (``--resend-in-doubt`` or ``--skip-in-doubt``, or ``resume`` if paused) until nothing is pending."""

    backend: str
    flag: str

    def describe(self) -> str:
        return f"finish via {self.backend} with {self.flag}"


@dataclass(frozen=True)
class Reads:
    """Opens and clicks of the first send's accepted recipients: shares human, machine, unknown open, unknown click."""

    human: float
    machine: float
    unknown_open: float
    unknown_click: float

    def describe(self) -> str:
        return (f"reads of the first send: {self.human:.0%} human, {self.machine:.0%} machine, "
                f"{self.unknown_open:.0%} unknown opens, {self.unknown_click:.0%} unknown clicks")


@dataclass(frozen=True)
class ScheduleResend:
    """``send ... --to-non-readers-of SEND --after 3d --backend B``: planned for the source's end plus three days."""

    backend: str

    def describe(self) -> str:
        return f"resend scheduled with --after {AFTER_DELAY} via {self.backend}"


@dataclass(frozen=True)
class ResendWorkers:
    """``workers`` workers together at the resend's time (threads, the harness's clock), the servers answering as
    ``answers`` (SendGrid) and ``refusals`` (SMTP at RCPT) say."""

    workers: int
    answers: tuple[str | None, ...] = ()
    refusals: tuple[tuple[str, tuple[str, ...]], ...] = ()
    data_refusals: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def describe(self) -> str:
        faults = ",".join(a or "ok" for a in self.answers) if any(self.answers) else ""
        refused = f"; {len(self.refusals) + len(self.data_refusals)} refused" if self.refusals or self.data_refusals \
            else ""
        return f"{self.workers} worker(s) at the resend's time{'; answers ' + faults if faults else ''}{refused}"


@dataclass(frozen=True)
class SecondResend:
    """A second resend of the first send (``--where``) while the resend is under way (perhaps killed, queued):
    it must leave out everyone the resend holds."""

    backend: str

    def describe(self) -> str:
        return f"a second resend with --where via {self.backend}, the first one under way"


@dataclass(frozen=True)
class Again:
    """The resend finished: its command again, a resend of the resend, and perhaps a second resend (``--where``)."""

    backend: str
    second: bool

    def describe(self) -> str:
        return "the resend again; a resend of the resend" + ("; a second resend with --where" if self.second else "")


@dataclass(frozen=True)
class ResendSchedule(Schedule):
    """A schedule whose steps from ``resend_from`` on play the resend."""

    resend_from: int = 0

    def describe(self) -> str:
        lines = super().describe().splitlines()
        lines.insert(self.resend_from + 1, "  -- the resend --")
        return "\n".join(lines)


def _resend_run(run: Run, rng: random.Random) -> Run:
    # A resend's audience is a share of the list: its process events come early, or they would seldom come.
    process = replace(run.process, at=min(run.process.at, rng.randint(1, 4)))
    return replace(run, flags=tuple(f for f in run.flags if f != "--include-new"), process=process)


def _reads(rng: random.Random) -> Reads:
    # Modest shares: reads add up over the steps, and the resend needs non-readers left to be worth playing.
    return Reads(rng.choice((0.0, 0.1, 0.2)), rng.choice((0.0, 0.3)), rng.choice((0.0, 0.2, 0.4)),
                 rng.choice((0.0, 0.1)))


def make_resend_schedule(seed: int) -> ResendSchedule:
    """The resend schedule of ``seed`` (deterministic)."""
    base = make_schedule(seed)
    rng = random.Random(seed * 53 + 24)
    steps = [s for s in base.steps if not isinstance(s, Scheduled)]
    runs = [i for i, s in enumerate(steps) if isinstance(s, Run)]
    cut = runs[rng.randint(0, min(1, len(runs) - 1))] + 1  # the first send: up to its first or second run
    first, rest = steps[:cut], [s for s in steps[cut:] if not isinstance(s, Report)]  # (a report names the send)
    backend = next(s.backend for s in reversed(first) if isinstance(s, Run))
    middle: list = [Finish(backend, rng.choice(("--resend-in-doubt", "--skip-in-doubt"))), _reads(rng)]
    if rng.random() < 0.4:
        middle.append(Leave(tuple(sorted(rng.sample(base.members, rng.randint(1, min(2, len(base.members)))))),
                            rng.choice(("unsubscribed", "bounced"))))
    resend: list = []
    later = [_resend_run(s, rng) if isinstance(s, Run) else s for s in rest if isinstance(s, (Run, Leave, Join))]
    if rng.random() < AFTER:
        answers = _sendgrid_answers(rng, len(base.members), 1) if backend == "sendgrid" else ()
        resend += [ScheduleResend(backend)]
        if rng.random() < 0.6:
            resend.append(_reads(rng))  # before it starts: these count
        resend.append(ResendWorkers(rng.choice((1, 2, 3)), answers,
                                    _refusals(rng, base.members, RCPT_REFUSALS, 0.1) if backend == "smtp" else (),
                                    _refusals(rng, base.members, DATA_REFUSALS, 0.1) if backend == "smtp" else ()))
    elif not any(isinstance(s, Run) for s in later):
        later.append(Run(backend))
    first_run = next((i for i, s in enumerate(later) if isinstance(s, Run)), None)
    if first_run is not None and not any(isinstance(s, ScheduleResend) for s in resend) \
            and rng.random() < EVENT_FIRST:  # the run that starts the resend meets the process event
        run = later[first_run]
        kind = rng.choice(("kill", "kill", "kill", "term", "concurrent", "freeze"))
        process = Process(kind, rng.randint(1, 3), rng.choice(("lost", "taken")), rng.choice(("finish", "kill")))
        later[first_run] = replace(run, process=process, pause=run.pause if kind in ("kill", "term") else None)
    for item in later:
        if isinstance(item, Run) and resend and rng.random() < 0.4:
            resend.append(_reads(rng))  # after the resend started: they change nothing
        resend.append(item)
        if isinstance(item, Run) and not any(isinstance(s, SecondResend) for s in resend) \
                and rng.random() < SECOND_EARLY:
            resend.append(SecondResend(item.backend))
    last = next((s.backend for s in reversed(resend) if isinstance(s, Run)), backend)
    resend += [Finish(last, rng.choice(("--resend-in-doubt", "--skip-in-doubt"))), Again(last, rng.random() < SECOND)]
    head = (*first, *middle)
    return ResendSchedule(base.seed, base.members, base.batch, base.smtp_connections, (*head, *resend),
                          resend_from=len(head))
