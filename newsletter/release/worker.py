"""``newsletter worker``: start scheduled sends when they are due, one worker per send, send the due
steps of welcome emails and sequences (``release/sequence_steps.py``), and read the bounce mailbox of
SMTP sends every ``NEWSLETTER_BOUNCE_POLL_SECONDS`` when it is set.

A send with a subject test is scheduled again, at its pick, once its test
groups went out (``release.subject_tests``): the worker that claims it picks
the winner, then sends the rest.

Any number of workers (threads, processes, hosts) may share a database:
``store.release.claim_due`` hands each due send to exactly one of them, and
the send's run lease keeps a second run off it while it is being sent. A
worker composes the issue again at start; the gate refuses the send if the
build is no longer the one scheduled or approved (the release row then says
why, and so does the audit log).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.errors import NewsletterError
from newsletter.release.clock import Clock, parse_stamp, stamp, system_clock
from newsletter.settings import Settings

if TYPE_CHECKING:
    from newsletter.release.sequence_steps import StepRunner
    from newsletter.tracking.bounces import FetchReport


@dataclass
class Started:
    """One send a worker started, and how its run ended."""

    send_id: int
    state: str
    detail: str = ""


@dataclass
class Worker:
    """Starts due sends (``run_once``), or keeps doing so until stopped (``run``)."""

    settings: Settings
    clock: Clock = system_clock
    name: str = field(default_factory=lambda: f"worker {socket.gethostname()}:{os.getpid()}")
    log: Callable[[str], None] = lambda line: None
    bounces_due: datetime | None = field(default=None, init=False)  # the next read of the bounce mailbox
    steps: StepRunner | None = field(default=None, init=False)  # sends the due sequence steps

    def read_bounces(self) -> FetchReport | None:
        """Read the bounce mailbox if it is set and its time has come (``None`` if not, or if reading failed).

        A mailbox that cannot be read is one log line, tried again after the next interval: the worker
        goes on starting sends whatever the mailbox does.
        """
        settings = self.settings
        now = self.clock()
        if not settings.newsletter_bounce_mailbox.strip() or (self.bounces_due is not None and now < self.bounces_due):
            return None
        import imaplib
        import poplib

        from newsletter.tracking.bounces import fetch

        self.bounces_due = now + timedelta(seconds=settings.newsletter_bounce_poll_seconds)
        try:
            report = fetch(settings)
        except (NewsletterError, OSError, imaplib.IMAP4.error, poplib.error_proto) as exc:
            self.log(f"bounce mailbox not read: {exc}")
            return None
        self.log(f"bounce mailbox: {report.line()}")
        return report

    def claim(self) -> dict | None:
        """The next due send, now this worker's (``None`` when nothing is due)."""
        from newsletter.store import releases as store
        from newsletter.store import session

        with session(self.settings.newsletter_database, timeout=self.settings.newsletter_database_timeout) as conn:
            return store.claim_due(conn, stamp(self.clock()), self.name)

    def run_once(self, stop: threading.Event | None = None) -> list[Started]:
        """Start every send due now, one after another, then the sequence steps due now; return what became
        of each."""
        stop = stop or threading.Event()
        started = []
        while not stop.is_set():
            row = self.claim()
            if row is None:
                break
            started.append(self.start(row, stop))
        started += [Started(step.send_id, step.state, step.detail) for step in self.step_runner().run(stop)]
        return started

    def step_runner(self) -> StepRunner:
        """The worker's sender of sequence steps (one per worker: it remembers the problems it logged)."""
        from newsletter.release.sequence_steps import StepRunner

        if self.steps is None:
            self.steps = StepRunner(self.settings, clock=self.clock, log=self.log, name=self.name)
        return self.steps

    def start(self, row: dict, stop: threading.Event) -> Started:
        """Run one claimed send through the gate; record how it ended."""
        from newsletter.delivery.plan import Controls
        from newsletter.delivery.send import send_issue
        from newsletter.release.gate import Mode, ReleaseHooks, options_from
        from newsletter.release.schedule import finish
        from newsletter.release.subject_tests import pick_due
        from newsletter.store import sends, session

        send_id = int(row["send_id"])
        self.log(f"starting send {send_id} ({row['slug']} to {row['list_name']}), due {row['run_at']}")
        with session(self.settings.newsletter_database, timeout=self.settings.newsletter_database_timeout) as conn:
            send = sends.get_send(conn, send_id)
            picked = pick_due(conn, send_id, by=self.name, now=self.clock())  # a subject test due now: its winner
        if picked:
            self.log(picked)
        # It goes out through the backend it was scheduled with (`send --at --backend`), not the worker's default.
        settings = self.settings.with_overrides(newsletter_backend=send["backend"] if send else None)
        options = options_from(row["options"])
        hooks = ReleaseHooks(settings, Path(row["issue_path"]), options, mode=Mode.START, actor=self.name,
                             clock=self.clock)
        try:
            report = send_issue(row["issue_path"], options, settings, hooks=hooks, controls=Controls(stop=stop))
        except NewsletterError as exc:
            state = finish(hooks, settings, error=exc, send_id=send_id)
            self.log(f"send {send_id} {state}: {exc}")
            return Started(send_id, state, str(exc))
        state = finish(hooks, settings, report=report)
        self.log(f"send {send_id} {state}: {report.totals.line()}")
        return Started(send_id, state, report.totals.line())

    def run(self, stop: threading.Event) -> None:
        """Start due sends and sequence steps until ``stop`` is set, looking every NEWSLETTER_WORKER_POLL_SECONDS
        (sooner if one is due),
        and read the bounce mailbox every NEWSLETTER_BOUNCE_POLL_SECONDS (``read_bounces``)."""
        from newsletter.store import releases as store
        from newsletter.store import session

        poll = self.settings.newsletter_worker_poll_seconds
        while not stop.is_set():
            self.run_once(stop)
            self.read_bounces()
            with session(self.settings.newsletter_database, timeout=self.settings.newsletter_database_timeout) as conn:
                due = store.next_due(conn)
            wait = poll
            if due is not None:
                wait = min(poll, max(0.1, (parse_stamp(due) - self.clock()).total_seconds()))
            if self.bounces_due is not None:
                wait = min(wait, max(0.1, (self.bounces_due - self.clock()).total_seconds()))
            step_due = self.step_runner().next_due()
            if step_due is not None:
                wait = min(wait, max(0.1, (step_due - self.clock()).total_seconds()))
            stop.wait(wait)
