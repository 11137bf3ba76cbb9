"""The worker's part of sequences: send every step that is due, each (subscriber, step) exactly once.

Each look (``StepRunner.run``), for every attached sequence:

1. read its file again; if its steps changed, check it in full and snapshot a new version (enrolments keep
   the version they entered with). A broken file is one log line (once per problem): the versions already
   snapshotted go on being sent, and so does every other sequence and scheduled send;
2. for each step of each (version, round) people are in, write a ledger row for every member due for it
   (``store.sequences.queue_due``: SQL, one statement per step; 'suppressed' when they do not match the
   step's conditions). The step's send is created the first time anyone is due;
3. run the step's send through the engine as a worker run (``delivery.send.PreparedRun``: lease, claim,
   journal 'sending', record), composing the issue now, so an edited email reaches those still waiting.
   Claiming suppresses rows of members who left meanwhile: nobody who left receives a step.

While sends need approvals (``NEWSLETTER_REQUIRED_APPROVALS``), a step with anyone due (or rows left queued)
is composed first and its build judged (``release/step_approvals.py``) before 2: without enough approvals
it writes no row and runs nothing (its members stay due, and an edited email waits for its own approvals),
and the worker says so once per step and build, in its log and the audit log. The build judged is the one
sent.

Times come from the worker's clock, compared as the store's UTC text.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter.errors import NewsletterError
from newsletter.release.clock import Clock, parse_stamp, stamp, system_clock
from newsletter.release.sequence_file import MAX_STEPS, Step, read_steps, steps_json
from newsletter.settings import Settings

if TYPE_CHECKING:
    from newsletter.compose.model import ComposeResult
    from newsletter.delivery.plan import SendReport
    from newsletter.release.gate import Verdict
    from newsletter.store import DB
    from newsletter.store.sequences import DueStep


@dataclass(frozen=True)
class StepRun:
    """One step the worker acted on: its send, rows it wrote, and how the send's run ended."""

    sequence: str
    list_name: str
    step: int  # 1-based
    send_id: int
    written: int
    state: str  # 'done' (this run did its part), the send's status otherwise ('partial'), or 'failed'
    detail: str = ""


def _positions(conn: DB, sequence: dict[str, Any], now: datetime) -> list[tuple[DueStep, Step]]:
    """Every step of every (version, round) of ``sequence``, as its due query sees it now; a step whose
    previous step has no send yet (nobody reached it) ends its (version, round)."""
    from newsletter.compose.source import read_slug
    from newsletter.store import sequences as store

    found = []
    for version in store.versions_of(conn, sequence["id"]):
        steps = [Step.from_dict(s) for s in store.steps_of(conn, sequence["id"], version)]
        for round_ in range(1, int(sequence["rounds"]) + 1):
            key = store.audience_key(sequence["name"], round_)
            previous = 0
            for index, step in enumerate(steps):
                if index > 0 and previous == 0:
                    break
                send_id = store.step_send(conn, read_slug(step.issue), sequence["list_id"], key)
                found.append((store.DueStep(
                    sequence["id"], sequence["list_id"], version, round_, index, send_id, previous,
                    None if step.after_joining is None else stamp(now - timedelta(seconds=step.after_joining)),
                    None if step.after_previous is None else stamp(now - timedelta(seconds=step.after_previous)),
                    step.where), step))
                previous = send_id
    return found


def due_steps(conn: DB, sequence: dict[str, Any], now: datetime) -> list[tuple[DueStep, int]]:
    """``(step, members due now)`` for each step of the sequence with anyone due (``sequences show``)."""
    from newsletter.store import sequences as store

    counted = []
    for due, _step in _positions(conn, sequence, now):
        n = store.count_due(conn, due)
        if n:
            counted.append((due, n))
    return counted


@dataclass
class StepRunner:
    """Sends due sequence steps for a worker (``run``) and says when the next one is due (``next_due``)."""

    settings: Settings
    clock: Clock = system_clock
    log: Callable[[str], None] = lambda line: None
    reported: dict[str, str] = field(default_factory=dict)  # the last problem logged, by what it is about
    name: str = "worker"  # who the audit log says refused a step not approved
    judged: dict[tuple[str, int], tuple[ComposeResult, Verdict]] = field(default_factory=dict)  # this look's

    def _problem(self, about: str, problem: str) -> None:
        """Log ``problem`` once while it lasts (the worker looks every few seconds; its log must stay readable)."""
        if self.reported.get(about) != problem:
            self.reported[about] = problem
            self.log(f"{about}: {problem}")

    def _solved(self, about: str) -> None:
        self.reported.pop(about, None)

    def run(self, stop: threading.Event | None = None) -> list[StepRun]:
        """Send every step due now, sequence by sequence; return what was done."""
        from newsletter.delivery.registry import check_backend
        from newsletter.delivery.send import check_public_url
        from newsletter.store import sequences as store
        from newsletter.store import session

        stop = stop or threading.Event()
        settings = self.settings
        with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
            attached = store.attached(conn)
        if not attached:
            return []
        self.judged.clear()  # an approval or an edit made since the last look counts at this one
        try:
            check_backend(settings.newsletter_backend, settings)
            check_public_url(settings.newsletter_backend, settings)
        except NewsletterError as exc:
            self._problem("sequences wait", str(exc))
            return []
        self._solved("sequences wait")
        done: list[StepRun] = []
        with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout,
                     threads=True) as conn:
            for sequence in attached:
                if stop.is_set():
                    break
                if sequence["paused_at"]:  # `sequences pause`: no row written, no step run (sequence_pause.py)
                    self._problem(f"{_about(sequence)} paused", f"by {sequence['paused_by'] or 'someone'} at "
                                  f"{sequence['paused_at']}: nothing of it goes out until resumed")
                    continue
                self._solved(f"{_about(sequence)} paused")
                try:
                    self._refresh(conn, sequence)
                    done += self._run_sequence(conn, sequence, stop)
                except NewsletterError as exc:
                    self._problem(_about(sequence), str(exc))
        return done

    def _refresh(self, conn: DB, sequence: dict[str, Any]) -> None:
        """Snapshot a new version if the file's steps changed; a broken file is logged, not raised."""
        from newsletter.errors import InputError
        from newsletter.store import sequences as store

        if sequence["kind"] != "file":
            return  # a welcome email's one step cannot change; its issue is composed when sent
        try:
            steps = read_steps(Path(sequence["path"]), Path(sequence["root"]))
            text, digest = steps_json(steps)
            current = store.steps_of(conn, sequence["id"], sequence["version"])
            if steps_json([Step.from_dict(s) for s in current])[1] != digest:
                read_steps(Path(sequence["path"]), Path(sequence["root"]), self.settings)  # compose every issue
                version = store.snapshot(conn, sequence["id"], text, digest)
                self.log(f"sequence {sequence['name']!r} of list {sequence['list']}: the file changed; "
                         f"version {version} for new enrolments")
            self._solved(_about(sequence))
        except InputError as exc:
            self._problem(_about(sequence), f"{exc} (the steps snapshotted before go on)")

    def _run_sequence(self, conn: DB, sequence: dict[str, Any], stop: threading.Event) -> list[StepRun]:
        from newsletter.release.pause_watch import PauseWatch
        from newsletter.store import sequences as store

        done: list[StepRun] = []
        # A pause of the sequence recorded meanwhile stops this look, and a step's run after its batches in flight.
        stop = PauseWatch(stop, lambda: store.is_paused(conn, sequence["id"]))
        # Rows written and decided in this look may make the next steps due at once (no delay, or a short one):
        # look again, with the clock as it is now, at most once per step.
        for _ in range(MAX_STEPS):
            wrote = False
            for due, step in _positions(conn, sequence, self.clock()):
                if stop.is_set():
                    return done
                about = f"{_about(sequence)}, step {due.index + 1}"
                try:
                    outcome = self._run_step(conn, sequence, due, step, stop)
                except NewsletterError as exc:  # its issue does not compose now: the other steps go on
                    self._problem(about, str(exc))
                    continue
                self._solved(about)
                if outcome is not None:
                    done.append(outcome)
                    wrote = wrote or outcome.written > 0
            if not wrote:
                break
        return done

    def _run_step(self, conn: DB, sequence: dict[str, Any], due: DueStep, step: Step,
                  stop: threading.Event) -> StepRun | None:
        from newsletter.compose import compose_checked
        from newsletter.delivery.send import send_version
        from newsletter.store import sequences as store

        settings = self.settings
        result = None
        if settings.newsletter_required_approvals > 0:
            result = self._approved(conn, sequence, due, step)
            if result is None:
                return None
        if due.send_id == 0:
            if store.count_due(conn, due) == 0:
                return None
            result = result or compose_checked(step.issue, settings)
            send_id = store.create_step_send(conn, result.issue.slug, sequence["list_id"],
                                             store.audience_key(sequence["name"], due.round),
                                             send_version(result, settings.newsletter_backend))
            due = replace(due, send_id=send_id)
        written = store.queue_due(conn, due, now=stamp(self.clock()))
        if not store.has_undecided(conn, due.send_id):
            return StepRun(sequence["name"], sequence["list"], due.index + 1, due.send_id, written, "done",
                           "nothing to send: every row written is decided") if written else None
        result = result or compose_checked(step.issue, settings)
        try:
            report = _send(conn, settings, result, sequence, (due.send_id, stop))
        except NewsletterError as exc:
            self.log(f"sequence {sequence['name']!r} step {due.index + 1} (send {due.send_id}): {exc}")
            return StepRun(sequence["name"], sequence["list"], due.index + 1, due.send_id, written, "failed", str(exc))
        line = report.totals.line()
        self.log(f"sequence {sequence['name']!r} step {due.index + 1} to list {sequence['list']} "
                 f"(send {due.send_id}): {line}")
        # A worker that finished while others still send the rest did its part ('done', as report.ok says).
        return StepRun(sequence["name"], sequence["list"], due.index + 1, due.send_id, written,
                       "done" if report.ok else report.status, line)

    def _approved(self, conn: DB, sequence: dict[str, Any], due: DueStep, step: Step) -> ComposeResult | None:
        """The step's email as composed now if its build has the approvals sends need; ``None`` if it has nothing
        to send, or waits for approval (said once per step and build: log and audit log)."""
        from newsletter.store import sequences as store

        if not (store.count_due(conn, due) or (due.send_id and store.has_undecided(conn, due.send_id))):
            return None  # nothing to send: nothing composed, nothing judged
        result, verdict = self._judge(conn, sequence, step)
        key = f"approval of {step.issue} for {_about(sequence)}"
        if verdict.ok:
            self.reported.pop(key, None)
            return result
        if self.reported.get(key) != verdict.build.id:
            self.reported[key] = verdict.build.id
            self._refuse(conn, sequence, due, result, verdict)
        return None

    def _judge(self, conn: DB, sequence: dict[str, Any], step: Step) -> tuple[ComposeResult, Verdict]:
        """A step's email as composed now and its approvals (once per issue, sequence and look: every round
        and version of a sequence shares its steps' builds; another list's sequence has builds of its own)."""
        from newsletter.compose import compose_checked
        from newsletter.release.step_approvals import StepOf, step_verdict

        key = (step.issue, int(sequence["id"]))
        if key not in self.judged:
            result = compose_checked(step.issue, self.settings)
            self.judged[key] = result, step_verdict(conn, result, StepOf(sequence["list"], sequence["name"]),
                                                    self.settings)
        return self.judged[key]

    def _refuse(self, conn: DB, sequence: dict[str, Any], due: DueStep, result: ComposeResult,
                verdict: Verdict) -> None:
        from newsletter.release.step_approvals import shown_path
        from newsletter.store import audit

        line = f"{_about(sequence)}, step {due.index + 1} waits for approval: {verdict.message(shown_path(result.issue.path))}"
        self.log(line)
        audit.record(conn, "refuse", audit.Logged(due.send_id or None, result.issue.slug, sequence["list"]),
                     at=stamp(self.clock()), actor=self.name, detail=line)

    def next_due(self) -> datetime | None:
        """The next moment a member becomes due for a step (``None`` if nobody is waiting on a delay)."""
        from newsletter.store import sequences as store
        from newsletter.store import session

        now = self.clock()
        best: datetime | None = None
        with session(self.settings.newsletter_database, timeout=self.settings.newsletter_database_timeout) as conn:
            for sequence in store.attached(conn):
                if sequence["paused_at"]:
                    continue  # nothing of it goes out until resumed; the worker polls, so it sees the resume
                try:
                    positions = _positions(conn, sequence, now)
                except NewsletterError:
                    continue
                for due, step in positions:
                    for moment in _next_times(conn, due, step, now):
                        best = moment if best is None or moment < best else best
        return best


def _about(sequence: dict[str, Any]) -> str:
    return f"sequence {sequence['name']!r} of list {sequence['list']}"


def _next_times(conn: DB, due: DueStep, step: Step, now: datetime) -> list[datetime]:
    """When the next member at this step becomes due, by each of its delays (later than ``now``)."""
    from newsletter.store import sequences as store

    position = (due.sequence_id, due.version, due.round, due.index)
    times = []
    if step.after_joining is not None:
        delay = timedelta(seconds=step.after_joining)
        entered = store.next_entry(conn, position, stamp(now - delay))
        if entered:
            times.append(parse_stamp(entered) + delay)
    if step.after_previous is not None and due.previous_send_id:
        delay = timedelta(seconds=step.after_previous)
        decided = store.next_decided(conn, due.previous_send_id, position, stamp(now - delay))
        if decided:
            times.append(parse_stamp(decided) + delay)
    return times


def _send(conn: DB, settings: Settings, result: ComposeResult, sequence: dict[str, Any],
          run: tuple[int, threading.Event]) -> SendReport:
    """Run a step's send as a worker run (several workers share it), with the issue as composed now."""
    from newsletter.delivery.plan import SendOptions, SendPlan, SendReport
    from newsletter.delivery.send import PreparedRun
    from newsletter.store import sends
    from newsletter.store.segments import Audience

    send_id, stop = run
    existing = sends.get_send(conn, send_id)
    assert existing is not None  # created before its rows were written
    options = SendOptions(sequence["list"], worker=True, allow_changed=True)
    plan = SendPlan(slug=result.issue.slug, subject=result.issue.subject,
                    sender=result.sender or settings.newsletter_from, backend=settings.newsletter_backend,
                    list_name=sequence["list"], options=options, audience=Audience(sequence["list"]), send_id=send_id)
    report = SendReport(plan=plan, send_id=send_id)
    # An edited email goes to those still waiting (Buttondown's rule): the send records the new version.
    changed = existing["html_sha256"] != result.html_sha256 or existing["backend"] != settings.newsletter_backend
    PreparedRun(conn, settings, result, report, sequence["list_id"], new_version=changed, stop=stop).execute()
    return report
