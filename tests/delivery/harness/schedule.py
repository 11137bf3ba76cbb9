"""Schedules: what happens to a send, drawn from a seed (the same seed, the same schedule)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

BACKENDS = ("sendgrid", "smtp")

#: One per SendGrid request, with weights (``None``: accepted). The stand-in
#: knows them all (``tests.delivery.fakes.SendGridStandIn``).
SENDGRID_ANSWERS: tuple[tuple[str | None, float], ...] = (
    (None, 14.0),
    ("400", 1.0),
    ("401", 0.4),
    ("403", 0.4),
    ("413", 1.5),
    ("429", 1.5),
    ("500", 0.5),
    ("502", 0.5),
    ("503", 0.5),
    ("504", 0.5),
    ("500-after", 0.7),
    ("502-after", 0.7),
    ("drop-after", 0.7),
    ("drop", 0.4),
    ("timeout", 0.5),
)
#: Replies an SMTP server gives at RCPT TO and after DATA (4xx: temporary, 5xx: permanent).
RCPT_REFUSALS = ("451 4.7.1 Greylisted, try again later", "452 4.2.2 Mailbox full", "550 5.1.1 No such user",
                 "553 5.1.3 Bad recipient address")
DATA_REFUSALS = ("451 4.7.1 Try again later", "421 4.7.0 Too many messages, closing", "554 5.7.1 Rejected as spam",
                 "552 5.3.4 Message too big")
#: The operator's choices when resuming, with weights.
FLAGS = ((), ("--resend-in-doubt",), ("--skip-in-doubt",), ("--retry-failed",), ("--resend-in-doubt", "--retry-failed"))
FLAG_WEIGHTS = (4.0, 2.5, 1.5, 2.0, 1.0)
#: How often a run also passes --include-new (members who joined after the send started).
INCLUDE_NEW = 0.15
#: SendGrid requests a run keeps in flight (NEWSLETTER_CONCURRENCY), with weights.
CONCURRENCY = ((1, 1.0), (2, 1.0), (4, 1.5))
#: Faults that land on requests in flight together (a burst: each fails in its own way).
BURST = ("500-after", "502-after", "drop-after", "timeout", "413", "429", "500", "drop", "400", "401")
#: How often a run is paused by the operator (``newsletter pause``) while it sends.
PAUSE = 0.15
#: How often the send starts as a scheduled SendGrid send (``Scheduled``), members leaving before its time.
SCHEDULED = 0.2
#: How far ahead a skewed second run's clock is (more than any lease: NEWSLETTER_LEASE_SECONDS is 60).
CLOCK_SKEW_S = 120.0
#: How often a concurrent second run has that clock, and how often a stopped run is on this host.
SKEWED, SAME_HOST = 0.5, 0.4


@dataclass(frozen=True)
class Leave:
    """Members leave: unsubscribed or bounced (between runs, or during one when ``after`` > 0)."""

    who: tuple[str, ...]
    status: str
    after: int = 0  # during a run: once the servers took this many messages (or when the run ends)

    def describe(self) -> str:
        when = f" after {self.after} taken" if self.after else ""
        return f"{self.status}{when}: {', '.join(self.who)}"


@dataclass(frozen=True)
class Join:
    """New members join the list (between runs, or during one when ``after`` > 0). A send's audience is
    fixed when it starts: they get it only from a later run with ``--include-new``."""

    who: tuple[str, ...]
    after: int = 0

    def describe(self) -> str:
        when = f" after {self.after} taken" if self.after else ""
        return f"join{when}: {', '.join(self.who)}"


@dataclass(frozen=True)
class Report:
    """SendGrid reports events (``newsletter events import``) for a share of the messages it took so far:
    processed, delivered or deferred (they settle a row in doubt as accepted), or a bounce (that too, and the
    member is suppressed)."""

    share: float
    bounces: float

    def describe(self) -> str:
        return f"events for {self.share:.0%} of the messages SendGrid took ({self.bounces:.0%} bounces)"


@dataclass(frozen=True)
class Pause:
    """The operator runs ``newsletter pause SEND`` once the servers took ``after`` units (SendGrid requests, SMTP
    messages; the server holds that unit's answer until the command has returned), or when the run ends if it never
    gets there. The next run of
    the schedule then first tries a plain ``send`` (refused: the send is paused), then ``newsletter resume SEND``."""

    after: int

    def describe(self) -> str:
        return f"pause after {self.after} taken"


@dataclass(frozen=True)
class Process:
    """What happens to the run's process: ``inline`` (runs to its end, in this process),
    ``kill`` (SIGKILL) or ``term`` (SIGTERM) at the ``at``-th unit, ``concurrent``
    (stalled there while a second run is started, then ``then``: finish or kill),
    or ``freeze`` (SIGSTOP there; once its lease has expired a second run takes
    the send over and runs to its end; then SIGCONT: the first run must notice
    it lost the send and write nothing more).

    ``skewed``: the second run of ``concurrent`` runs in a process of its own whose clock is
    ``CLOCK_SKEW_S`` ahead, on another host: by its clock the first run's lease ran out long
    ago, yet it must be refused (leases are judged on the database's clock). ``same_host``:
    the run that ``freeze`` stops is on the harness's host (others are made to look like
    another host's): its process provably lives, so once its lease has expired a second run
    is refused all the same, and the first one, resumed, finishes the send.

    A unit is a request (SendGrid) or a message (SMTP); ``phase`` says when it
    counts: ``lost`` (arrived, never taken), ``taken`` (taken, not answered)
    or ``answered``.
    """

    kind: str = "inline"
    at: int = 0
    phase: str = "taken"
    then: str = "finish"
    other_backend: bool = False  # the second run asks for the other backend
    skewed: bool = False  # concurrent: the second run's clock is CLOCK_SKEW_S ahead, on another host
    same_host: bool = False  # freeze: the stopped process is on this host (never taken over)

    def describe(self) -> str:
        if self.kind == "inline":
            return "inline"
        other = " via the other backend" if self.other_backend else ""
        skew = f" with its clock {CLOCK_SKEW_S:g} s ahead on another host" if self.skewed else ""
        extra = f", second run{other}{skew}, then {self.then}" if self.kind == "concurrent" else ""
        if self.kind == "freeze":
            extra = ", on this host: never taken over" if self.same_host else ", on another host"
        return f"{self.kind} at unit {self.at} ({self.phase}{extra})"


@dataclass(frozen=True)
class Run:
    """One ``newsletter send`` and the world it meets."""

    backend: str
    flags: tuple[str, ...] = ()
    sendgrid_answers: tuple[str | None, ...] = ()
    rcpt_refusals: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (address, replies one per attempt)
    data_refusals: tuple[tuple[str, tuple[str, ...]], ...] = ()
    process: Process = field(default_factory=Process)
    leave: Leave | None = None
    join: Join | None = None
    concurrency: int = 1  # SendGrid requests in flight (NEWSLETTER_CONCURRENCY)
    pause: Pause | None = None
    resumed: bool = False  # played as `newsletter resume` (the send was paused): flags are the kept options

    def describe(self) -> str:
        verb = "resume" if self.resumed else "send"
        parts = [f"{verb} via {self.backend} {' '.join(self.flags) or '(no flags)'}; {self.process.describe()}"]
        if self.concurrency > 1:
            parts.append(f"{self.concurrency} requests in flight")
        if self.backend == "sendgrid" and any(self.sendgrid_answers):
            parts.append("answers " + ",".join(a or "ok" for a in self.sendgrid_answers))
        if self.backend == "smtp":
            for name, refusals in (("RCPT", self.rcpt_refusals), ("DATA", self.data_refusals)):
                if refusals:
                    parts.append(f"{name} " + "; ".join(f"{a}: {' / '.join(r[:3] for r in rs)}" for a, rs in refusals))
        for during in (self.leave, self.join, self.pause):
            if during is not None:
                parts.append("during: " + during.describe())
        return " | ".join(parts)


@dataclass(frozen=True)
class Scheduled:
    """The send is scheduled (``send --at``, SendGrid) for an hour ahead, members leave (unsubscribed, bounced,
    complained) before that time, then ``newsletter worker`` starts it at its time. Nobody who left before their
    message left the provider may receive it: SendGrid holds nothing for later, and their rows are suppressed."""

    leave: Leave

    def describe(self) -> str:
        return f"scheduled via sendgrid for an hour ahead; before then {self.leave.describe()}; the worker at the time"


@dataclass(frozen=True)
class Schedule:
    """An audience and the steps that happen to its send."""

    seed: int
    members: tuple[str, ...]
    batch: int
    smtp_connections: int
    steps: tuple[Run | Leave | Join | Report | Scheduled, ...]

    @property
    def joiners(self) -> tuple[str, ...]:
        """Everyone who joins the list after it was made."""
        joins = [s for s in self.steps if isinstance(s, Join)]
        joins += [s.join for s in self.steps if isinstance(s, Run) and s.join]
        return tuple(e for j in joins for e in j.who)

    def describe(self) -> str:
        """The schedule, one step a line (printed with a failure)."""
        lines = [f"seed {self.seed}: {len(self.members)} members, batches of {self.batch}, "
                 f"{self.smtp_connections} SMTP connection(s)"]
        for i, step in enumerate(self.steps, 1):
            lines.append(f"  {i}. " + ("leave " if isinstance(step, Leave) else "") + step.describe())
        return "\n".join(lines)


def _members(rng: random.Random) -> tuple[str, ...]:
    n = rng.randint(5, 28)
    members = [f"m{i}@example.org" for i in range(1, n + 1)]
    if rng.random() < 0.35:  # an international domain: on the wire in its IDNA form
        members.append(f"idn{n}@exämple.org")
    if rng.random() < 0.2:  # a non-ASCII local part: SMTPUTF8 only (SendGrid refuses it)
        members.append(f"jörg{n}@example.org")
    return tuple(members)


def _units(members: int, batch: int, backend: str) -> int:
    return members if backend == "smtp" else -(-members // batch)


def _sendgrid_answers(rng: random.Random, requests: int, concurrency: int) -> tuple[str | None, ...]:
    answers: list[str | None] = []
    names = [a for a, _ in SENDGRID_ANSWERS]
    weights = [w for _, w in SENDGRID_ANSWERS]
    while len(answers) < requests + 3:
        if rng.random() < 0.04:  # 429 until the backend gives up on the request
            answers.extend(["429"] * 5)
        elif concurrency > 1 and rng.random() < 0.08:  # the requests in flight together each fail differently
            answers.extend(rng.sample(BURST, concurrency))
        else:
            answers.append(rng.choices(names, weights)[0])
    return tuple(answers)


def _refusals(rng: random.Random, members: tuple[str, ...], replies: tuple[str, ...],
              p: float) -> tuple[tuple[str, tuple[str, ...]], ...]:
    chosen = []
    for address in members:
        if rng.random() < p:
            chosen.append((address, tuple(rng.choice(replies) for _ in range(rng.randint(1, 3)))))
    return tuple(chosen)


def _process(rng: random.Random, units: int) -> Process:
    kind = rng.choices(("inline", "kill", "term", "concurrent", "freeze"), (10.0, 3.5, 1.2, 1.8, 0.8))[0]
    if kind == "inline":
        return Process()
    at = rng.randint(1, min(3, units)) if kind in ("concurrent", "freeze") else rng.randint(1, max(1, units))
    phases = ("lost", "taken") if kind in ("concurrent", "freeze") else ("lost", "taken", "answered")
    return Process(kind, at, rng.choice(phases), rng.choice(("finish", "kill")), rng.random() < 0.4)


def _leave(rng: random.Random, members: tuple[str, ...], after: int) -> Leave:
    who = tuple(sorted(rng.sample(members, rng.randint(1, min(3, len(members))))))
    return Leave(who, rng.choice(("unsubscribed", "bounced")), after)


def make_schedule(seed: int) -> Schedule:
    """The schedule of ``seed`` (deterministic)."""
    rng = random.Random(seed)
    members = _members(rng)
    batch = rng.choice((2, 3, 5, 8, 13))
    backend = rng.choice(BACKENDS)
    steps: list[Run | Leave | Join | Report] = []
    joined = 0

    def join(after: int) -> Join:
        nonlocal joined
        who = tuple(f"new{joined + k}@example.org" for k in range(1, rng.randint(1, 3) + 1))
        joined += len(who)
        return Join(who, after)

    if rng.random() < 0.1:
        steps.append(_leave(rng, members, 0))  # before the send starts: never in its audience
    for i in range(rng.randint(2, 5)):
        if i and rng.random() < 0.25:
            steps.append(_leave(rng, members, 0))
        if rng.random() < 0.15:
            steps.append(join(0))
        if i and rng.random() < 0.2:
            steps.append(Report(rng.choice((0.3, 0.7, 1.0)), rng.choice((0.0, 0.2))))
        if i and rng.random() < 0.15:
            backend = "smtp" if backend == "sendgrid" else "sendgrid"  # an operator switches provider
        units = _units(len(members), batch, backend)
        concurrency = rng.choices([c for c, _ in CONCURRENCY], [w for _, w in CONCURRENCY])[0]
        if backend != "sendgrid":
            concurrency = 1  # SMTP spreads each batch over its connections instead
        process = _process(rng, units)
        flags: tuple[str, ...] = rng.choices(FLAGS, FLAG_WEIGHTS)[0] if i else ()
        if i and rng.random() < INCLUDE_NEW:
            flags += ("--include-new",)
        steps.append(Run(
            backend=backend,
            flags=flags,
            sendgrid_answers=_sendgrid_answers(rng, units, concurrency) if backend == "sendgrid" else (),
            rcpt_refusals=_refusals(rng, members, RCPT_REFUSALS, 0.08) if backend == "smtp" else (),
            data_refusals=_refusals(rng, members, DATA_REFUSALS, 0.08) if backend == "smtp" else (),
            process=process,
            leave=_leave(rng, members, rng.randint(1, max(1, units // 2))) if rng.random() < 0.2 else None,
            join=join(rng.randint(1, max(1, units // 2))) if rng.random() < 0.1 else None,
            concurrency=concurrency,
            # (not while a run is stalled or stopped: the operator's pause would wait on it)
            pause=(Pause(rng.randint(1, max(1, units * 2 // 3))) if process.kind in ("inline", "kill", "term")
                   and rng.random() < PAUSE else None),
        ))
    last = steps[-1]
    if isinstance(last, Run) and last.pause is not None:  # someone resumes it
        steps.append(Run(backend, sendgrid_answers=_sendgrid_answers(rng, units, 1) if backend == "sendgrid" else ()))
    connections = rng.randint(1, 3)
    # What later issues added draws from a generator of its own: every earlier seed keeps its schedule.
    more = random.Random(seed * 7919 + 20)
    steps = [replace(s, process=replace(s.process, skewed=s.process.kind == "concurrent" and more.random() < SKEWED,
                                        same_host=s.process.kind == "freeze" and more.random() < SAME_HOST))
             if isinstance(s, Run) else s for s in steps]
    if more.random() < SCHEDULED:
        statuses = ("unsubscribed", "bounced", "complained")
        who = tuple(sorted(more.sample(members, more.randint(1, min(3, len(members))))))
        steps.insert(0, Scheduled(Leave(who, more.choice(statuses))))
    return Schedule(seed, members, batch, connections, tuple(steps))
