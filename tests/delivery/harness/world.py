"""Playing a schedule: the real CLI and engine against the SendGrid stand-in and a
real aiosmtpd server, with a record (``record.py``) of what every run printed,
what the ledger said after it and what the servers received."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.delivery.fakes import API_KEY
from tests.delivery.harness.cli_main import HOST_VARIABLE, SKEW_VARIABLE
from tests.delivery.harness.record import (
    LIST,
    SLUG,
    Blocked,
    LeaveRecord,
    PauseRecord,
    Record,
    ReportRecord,
    RunRecord,
    ScheduledRecord,
    SecondRun,
    Target,
    read_ledger,
    read_release,
    send_id,
)
from tests.delivery.harness.schedule import CLOCK_SKEW_S, Join, Leave, Report, Run, Schedule, Scheduled
from tests.delivery.harness.servers import DEADLINE_S, SENDGRID_TIMEOUT_S, Child, Moment, Output, Servers, wire
from tests.delivery.harness.tuning import tuned

#: NEWSLETTER_LEASE_SECONDS of a run that is stopped (SIGSTOP) to be taken over.
FROZEN_LEASE_S = 1.5
#: The SendGrid stand-in's round trip (``latency_s``) when a run keeps several requests in flight.
LATENCY_S = 0.03
#: The host a stopped run (or a skewed second run) is made to belong to, when it is to be another host's.
OTHER_HOST = "harness-other-host"

ISSUE = """---
title: "Harness issue {seed}"
seo:
  url: https://news.example.org/blog/harness
  description: What the harness sends
---
Hello %%name%%, this is the issue.

Read [the post](https://news.example.org/blog/post).
"""


# --- playing a schedule ----------------------------------------------------------------


class World:
    """Plays schedules, each in its own folder and database, on shared servers."""

    def __init__(self, servers: Servers) -> None:
        self.servers = servers

    def play(self, schedule: Schedule, folder: Path) -> Record:
        """Play ``schedule`` in ``folder``; return what happened."""
        self.servers.reset()
        self.schedule, self.folder = schedule, folder
        folder.mkdir(parents=True, exist_ok=True)
        self.issue = folder / f"{SLUG}.md"
        # The seed in the subject: copies of an earlier schedule's messages that servers take late are not this one's.
        self.issue.write_text(ISSUE.replace("{seed}", str(schedule.seed)), encoding="utf-8")
        self.subject = f"Harness issue {schedule.seed}"
        self.database = folder / "newsletter.db"
        self.env = self._env(schedule)
        self._make_list(schedule.members)
        record = Record(schedule)
        for step, item in enumerate(schedule.steps):
            if isinstance(item, (Leave, Join)):
                self._change(item, step, record)
            elif isinstance(item, Report):
                record.reports.append(self._report(item, step, record))
            elif isinstance(item, Scheduled):
                record.scheduled.append(self._scheduled(item, step, record))
            else:
                self._run(step, item, record)
        record.received = self.servers.received(self.subject)
        record.copies = self.servers.copies(self.subject)
        with closing(sqlite3.connect(self.database, timeout=60)) as conn:
            record.people = {e: (i, n) for i, e, n in conn.execute("SELECT id, email, name FROM subscribers")}
        record.violations = list(self.servers.sendgrid.violations)
        record.final = read_ledger(self.database)
        return record

    def _env(self, schedule: Schedule) -> dict[str, str]:
        return {
            "NEWSLETTER_ENV_FILE": os.devnull,
            "NEWSLETTER_DATABASE": str(self.database),
            "NEWSLETTER_SECRET_KEY": "harness-secret-key-0123456789abcdef",
            "NEWSLETTER_OUTBOX": str(self.folder / "outbox"),
            "NEWSLETTER_BUILD_DIR": str(self.folder / "build"),
            "SENDGRID_API_KEY": API_KEY,
            "SENDGRID_API_URL": self.servers.sendgrid.url,
            "SENDGRID_TIMEOUT": str(SENDGRID_TIMEOUT_S),
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.servers.smtp_port),
            "SMTP_SECURITY": "none",
            "SMTP_TIMEOUT": "20",
            "SMTP_CONNECTIONS": str(schedule.smtp_connections),
            "NEWSLETTER_CONCURRENCY": "1",  # each run says how many requests it keeps in flight
            # The stand-ins and `serve` are on loopback: the links may point there (send refuses them otherwise).
            "NEWSLETTER_ALLOW_LOCAL_LINKS": "on",
            # `send`'s DNS line asks the tests' own DNS server (tests/conftest.py), never the machine's resolver.
            "NEWSLETTER_DNS_RESOLVER": os.environ["NEWSLETTER_DNS_RESOLVER"],
        }

    def _make_list(self, members: tuple[str, ...]) -> None:
        from newsletter.store import connect, transaction
        from newsletter.store import subscribers as store

        with closing(connect(self.database)) as conn, transaction(conn):
            list_id = store.ensure_list(conn, LIST)
            for i, email in enumerate(members, 1):
                sid, _, _ = store.upsert_subscriber(conn, email, f"Member {i}", {})
                store.add_membership(conn, list_id, sid)

    # --- commands ---

    def cli(self, *args: str | Path, env: dict[str, str] | None = None, paused: Callable[[], bool] = lambda: False) \
            -> Output:
        """Run ``newsletter ARGS`` in this process (the real CLI, under the harness's tuning), ``env`` over the
        settings; ``paused()`` says whether the harness paused it meanwhile (then exit 130 is its own answer)."""
        from typer.testing import CliRunner

        from newsletter.cli import app

        with tuned(self.schedule.batch):
            result = CliRunner().invoke(app, [str(a) for a in args], env={**self.env, **(env or {})})
        if result.exit_code == 130 and not paused():  # nothing signals this process but the person who runs it
            raise KeyboardInterrupt
        crash = ""
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            crash = f"{type(result.exception).__name__}: {result.exception}"
        return Output(result.exit_code, result.stdout, result.stderr, crash)

    def spawn(self, name: str, *args: str | Path, env: dict[str, str] | None = None) -> Child:
        """Start ``newsletter ARGS`` in a process of its own (under the same tuning), ``env`` over the settings."""
        return Child([str(a) for a in args], {**self.env, **(env or {})}, self.schedule.batch, self.folder, name)

    def listing(self) -> dict[str, Any] | None:
        """This send's row of ``newsletter sends --json`` (None when there is no send)."""
        out = self.cli("sends", "--json")
        if out.exit_code != 0:
            return {"error": out.stderr.strip() or out.crash}
        rows = [r for r in json.loads(out.stdout) if r["issue"] == SLUG and r["list"] == LIST
                and r.get("audience", "") == Target.audience]
        return rows[0] if rows else None

    # --- steps ---

    def _change(self, change: Leave | Join, step: int, record: Record) -> None:
        if isinstance(change, Leave):
            record.leaves.extend(self._leave(change, step))
        else:
            self._join(change)
            record.joins.update(dict.fromkeys(change.who, step))

    def _join(self, join: Join) -> None:
        from newsletter.store import connect, transaction
        from newsletter.store import subscribers as store

        with closing(connect(self.database, migrate_schema=False)) as conn, transaction(conn):
            list_id = store.ensure_list(conn, LIST)
            for email in join.who:
                sid, _, _ = store.upsert_subscriber(conn, email, "Joined later", {})
                store.add_membership(conn, list_id, sid)

    def _leave(self, leave: Leave, step: int) -> list[LeaveRecord]:
        """Members leave; in the same transaction, note their ledger rows and what they had received."""
        from newsletter.store import connect, transaction
        from newsletter.store import subscribers as store

        records = []
        with closing(connect(self.database, migrate_schema=False)) as conn, transaction(conn):
            send = send_id(conn) or 0
            for email in leave.who:
                person = store.find_subscriber(conn, email)
                assert person is not None, email
                store.set_status(conn, person.id, leave.status, "harness")
                row = conn.execute("SELECT state FROM deliveries WHERE send_id = ? AND subscriber_id = ?",
                                   (send, person.id)).fetchone()
                records.append(LeaveRecord(email, leave.status, step, row[0] if row else None, 0))
            received = self.servers.received(self.subject)  # under the write lock: no claim meanwhile
            for r in records:
                r.received_at = received[wire(r.email)]
        return records

    def _report(self, report: Report, step: int, record: Record) -> ReportRecord:
        """Events for a share of the messages SendGrid took for this send, imported as an operator would."""
        ledger = read_ledger(self.database)
        members = {wire(m): m for m in self.schedule.members + self.schedule.joiners}
        with self.servers.sendgrid.lock:
            taken = [a["personalization"] for a in self.servers.sendgrid.accepted]
        rng = random.Random(self.schedule.seed * 1000 + step)
        events, proven, bounced = [], set(), []
        for i, p in enumerate(taken):
            if p["custom_args"]["send_id"] != str(ledger.send_id) or rng.random() >= report.share:
                continue
            bounce = rng.random() < report.bounces
            kind = "bounce" if bounce else rng.choice(("processed", "delivered", "deferred"))
            email = members[wire(p["to"][0]["email"])]
            events.append({"event": kind, "email": p["to"][0]["email"], "timestamp": int(time.time()),
                           "sg_event_id": f"harness-{step}-{i}", **p["custom_args"],
                           **({"type": "bounce", "reason": "550 5.1.1 no such user"} if bounce else {})})
            proven.add(email)
            if bounce:
                bounced.append(email)
        path = self.folder / f"events-{step}.json"
        path.write_text(json.dumps(events), encoding="utf-8")
        received = self.servers.received(self.subject)  # no run is live: ledger and servers are still
        record.leaves.extend(LeaveRecord(e, "bounced", step, ledger.rows.get(e, (None,))[0], received[wire(e)])
                             for e in bounced)
        return ReportRecord(step, self.cli("events", "import", path), proven)

    def _scheduled(self, item: Scheduled, step: int, record: Record) -> ScheduledRecord:
        """``send --at`` via SendGrid an hour ahead, members leave meanwhile, then the worker at that time; the
        library is called with a clock of the harness's (the CLI's is the real one), which the stand-in shares."""
        from datetime import UTC, datetime, timedelta

        from newsletter.delivery.plan import SendOptions
        from newsletter.errors import NewsletterError
        from newsletter.release.schedule import schedule
        from newsletter.release.worker import Worker
        from newsletter.settings import load_settings

        settings = load_settings(self.env).with_overrides(newsletter_backend="sendgrid")
        now = [datetime.now(UTC)]
        due = now[0].replace(second=0, microsecond=0) + timedelta(hours=1)
        sg = self.servers.sendgrid
        sg.clock = lambda: now[0].timestamp()
        requests = len(sg.requests)
        try:
            with tuned(self.schedule.batch):
                try:
                    done = schedule(self.issue, SendOptions(LIST, at=due.strftime("%Y-%m-%d %H:%M"), tz="UTC"),
                                    settings, actor="harness@example.org", clock=lambda: now[0])
                except NewsletterError as exc:
                    return ScheduledRecord(step, "", [], 0, 0, read_ledger(self.database), self.listing(), str(exc))
                now[0] = due - timedelta(minutes=5)  # inside SendGrid's last 10 minutes: no cancelling any more
                record.leaves.extend(self._leave(item.leave, step))
                sg.release_due()
                now[0] = due
                started = Worker(settings, clock=lambda: now[0]).run_once()
            sg.release_due()
            now[0] = due + timedelta(days=3)
            sg.release_due()
            with sg.lock:
                ahead = sum("send_at" in body for body in sg.requests[requests:])
                held = len(sg.scheduled)
        finally:
            sg.clock = time.time
        return ScheduledRecord(step, done.route, [(s.state, s.detail) for s in started], ahead, held,
                               read_ledger(self.database), self.listing())

    def _arm(self, run: Run, moment: Moment) -> int:
        """Inject the run's faults; return the SendGrid requests still out from earlier runs (killed ones)."""
        sg, smtp = self.servers.sendgrid, self.servers.smtp
        with sg.lock:
            sg.faults = list(run.sendgrid_answers)
            sg.max_active = leftover = sg.active
            # A provider's round trip, so that several requests are out together when the run allows it.
            sg.latency_s = LATENCY_S if run.concurrency > 1 else 0.0
        smtp.refuse = {wire(a): list(replies) for a, replies in run.rcpt_refusals}
        smtp.refuse_data = {wire(a): list(replies) for a, replies in run.data_refusals}
        sg.tap = smtp.tap = moment.tap
        return leftover

    def _disarm(self, run: Run) -> tuple[tuple[str | None, ...], int]:
        """Stop injecting; return the SendGrid answers the run's requests met, and the most it had in flight."""
        sg, smtp = self.servers.sendgrid, self.servers.smtp
        with sg.lock:
            used = run.sendgrid_answers[: len(run.sendgrid_answers) - len(sg.faults)]
            sg.faults = []
            most = sg.max_active
        sg.tap = smtp.tap = None
        smtp.refuse, smtp.refuse_data = {}, {}
        return used, most

    def _in_flight(self) -> int:
        with self.servers.sendgrid.lock:
            return self.servers.sendgrid.active

    def _last_run_id(self) -> int:
        with closing(sqlite3.connect(self.database, timeout=60)) as conn:
            return conn.execute("SELECT COALESCE(MAX(id), 0) FROM send_runs").fetchone()[0]

    def _ours(self, what: Any, earlier: int) -> bool:
        """Whether the unit a server took (a SendGrid request's body, an SMTP recipient) is this run's: every row
        it carries is 'sending' for a run newer than ``earlier`` (a late request of a run killed before is not)."""
        wired = [p["to"][0]["email"] for p in what["personalizations"]] if isinstance(what, dict) else [what]
        with closing(sqlite3.connect(self.database, timeout=60)) as conn:
            rows = {wire(email): (state, run or 0) for email, state, run in conn.execute(
                "SELECT p.email, d.state, d.run_id FROM deliveries d JOIN subscribers p ON p.id = d.subscriber_id"
                " WHERE d.send_id = ?", (send_id(conn),))}
        return all(rows.get(wire(e), ("", 0))[0] == "sending" and rows[wire(e)][1] > earlier for e in wired)

    def _copies(self) -> int:
        return sum(self.servers.received(self.subject).values())

    def _send_args(self, run: Run) -> tuple[str | Path, ...]:
        return (*self._plain_args(run.backend), *run.flags)

    def _plain_args(self, backend: str) -> tuple[str | Path, ...]:
        """The send's command with no flags (a second run's, a takeover's; a resend schedule adds its own)."""
        return ("send", self.issue, "--list", LIST, "--yes", "--backend", backend)

    def _when_paused(self, run: Run) -> tuple[Run, tuple[str | Path, ...], Blocked | None, Output | None]:
        """What this step runs: ``send``, or, when the operator paused the send, ``resume`` after a plain ``send``
        was tried (and refused). Returns the run as played, its arguments, that refused ``send``, and the output
        of a ``resume`` that only lifted the pause."""
        release = read_release(self.database)
        args = self._send_args(run)
        if not release.paused:
            return run, args, None, None
        blocked = self._blocked(args)
        send = str(read_ledger(self.database).send_id)
        if release.state not in ("stopped", "running"):  # its last run ended by itself: resume lifts the pause
            return run, args, blocked, self.cli("resume", send, "--yes")
        # A run stopped by the pause, or one that died (killed) while it held the send: resume sends the rest
        # here, through the send's backend, with the options that run kept.
        kept = release.options
        flags = (("--retry-failed",) * bool(kept.get("retry_failed"))
                 + ("--include-new",) * bool(kept.get("include_new")))
        run = replace(run, flags=flags, resumed=True, backend=release.backend,
                      concurrency=run.concurrency if release.backend == "sendgrid" else 1)
        return run, ("resume", send, "--yes"), blocked, None

    def _run(self, step: int, run: Run, record: Record) -> None:
        run, args, blocked, resume_only = self._when_paused(run)
        before = read_ledger(self.database)
        grants = frozenset(before.emails_in("in_doubt")) if "--resend-in-doubt" in run.flags else frozenset()
        result = RunRecord(step, run, Output(None), before, before, None, grants, created=False, fired=False,
                           blocked=blocked, resume_only=resume_only)
        earlier = self._last_run_id()
        moment = Moment(run.process, run.pause.after if run.pause else 0,
                        (lambda: self._pause(result, True)) if run.pause else None, self._in_flight,
                        lambda what: self._ours(what, earlier))
        changes = [threading.Thread(target=self._change_during, args=(c, step, moment, record), name="harness-change")
                   for c in (run.leave, run.join) if c is not None]
        result.leftover_in_flight = self._arm(run, moment)
        try:
            for thread in changes:
                thread.start()
            if run.process.kind == "inline":
                result.output = self.cli(*args, env=self._run_env(run), paused=lambda: result.pause is not None)
            else:
                self._in_subprocess(args, moment, result)
        finally:
            moment.end()
            for thread in changes:
                thread.join(DEADLINE_S)
            used, result.most_in_flight = self._disarm(run)
        result.in_flight_at_event = moment.in_flight_at_event
        if run.pause is not None and result.pause is None:  # it never got there: paused once it has ended
            self._pause(result, False)
        result.after = read_ledger(self.database)
        result.paused_after = read_release(self.database).paused
        result.received_after = self._copies()
        result.listing = self.listing()
        result.created = before.send_id is None and result.after.send_id is not None
        result.fired = moment.fired
        taken_over = Counter(result.takeover.answers_used if result.takeover else ())
        result.answers_used = tuple((Counter(used) - taken_over).elements())  # (unordered when taken over)
        record.runs.append(result)
        if result.takeover is not None:
            record.runs.append(result.takeover)

    def _run_env(self, run: Run) -> dict[str, str]:
        return {"NEWSLETTER_CONCURRENCY": str(run.concurrency)}

    def _pause(self, result: RunRecord, during: bool) -> None:
        """``newsletter pause SEND`` in a process of its own, as an operator would; note the ledger right after."""
        send = read_ledger(self.database).send_id
        if send is None:
            return  # nothing to pause yet
        started = time.monotonic()
        child = self.spawn(f"step-{result.step + 1}-pause", "pause", str(send), "--as", "operator@example.org")
        child.wait()
        result.pause = PauseRecord(during, child.output(), read_ledger(self.database), self._copies(),
                                   time.monotonic() - started)

    def _blocked(self, args: tuple[str | Path, ...]) -> Blocked:
        before, copies = self._footprint(), self._copies()
        output = self.cli(*args)
        return Blocked(output, before, self._footprint(), copies, self._copies())

    def _change_during(self, change: Leave | Join, step: int, moment: Moment, record: Record) -> None:
        moment.wait_for(lambda: moment.units["taken"] >= change.after or moment.over)
        self._change(change, step, record)

    def _in_subprocess(self, args: tuple[str | Path, ...], moment: Moment, result: RunRecord) -> None:
        run = result.run
        lease = {"NEWSLETTER_LEASE_SECONDS": str(FROZEN_LEASE_S)} if run.process.kind == "freeze" else {}
        child = self.spawn(f"step-{result.step + 1}", *args, env={**lease, **self._run_env(run)})
        moment.pid = child.pid
        moment.watch(child)
        try:
            if run.process.kind in ("concurrent", "freeze") and moment.wait_for(lambda: moment.fired or moment.over) \
                    and moment.fired:
                if run.process.kind == "freeze":
                    if run.process.same_host:
                        self._refused_though_expired(result, child)
                    else:
                        self._take_over(result, child)
                    child.signal(signal.SIGCONT)
                else:
                    other = "smtp" if run.backend == "sendgrid" else "sendgrid"
                    env = self._run_env(run)
                    if run.process.skewed:  # a process of its own, on another host, its clock two minutes ahead
                        env = {**env, HOST_VARIABLE: OTHER_HOST, SKEW_VARIABLE: str(CLOCK_SKEW_S)}
                    result.second = self._second_run(child.pid, other if run.process.other_backend else run.backend,
                                                     env, own_process=run.process.skewed)
                    if run.process.then == "kill":
                        child.signal(signal.SIGKILL)
                    moment.resume.set()
            if moment.wait_for(lambda: moment.over):
                result.output = child.output()
                return
            result.output = child.output("the run did not end in time")
        finally:  # whatever happened here (Ctrl-C too), the process does not outlive its step
            child.signal(signal.SIGKILL)
            moment.wait_for(lambda: moment.over)

    def _lease_ran_out(self, child: Child, host: str = "") -> bool:
        """Wait until the stopped run's lease has run out; False if its process holds the write lock (stopped
        inside a transaction: nobody can take over then). ``host``: make its run look like that host's first (a
        run of a process that provably lives on this host is never taken over)."""
        with closing(sqlite3.connect(self.database, timeout=0.5, isolation_level=None)) as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
                if host:
                    conn.execute("UPDATE send_runs SET host = ? WHERE ended_at IS NULL AND pid = ?", (host, child.pid))
                conn.execute("COMMIT")
            except sqlite3.OperationalError:
                return False
            expires = conn.execute("SELECT MAX(expires_at) FROM send_runs WHERE ended_at IS NULL").fetchone()[0]
            if expires is None:
                return False
            # The lease runs out at a time, not on an event: wait for that time.
            threading.Event().wait(max(0.0, expires - time.time()) + 0.05)
        return True

    def _refused_though_expired(self, frozen: RunRecord, child: Child) -> None:
        """The stopped run is on this host and its process lives: once its lease has run out, a second run is
        still refused (and writes nothing); resumed, the first run finishes the send."""
        if not self._lease_ran_out(child):
            return
        if not child.stopped():
            raise RuntimeError(f"harness: process {child.pid} was sent SIGSTOP but is not stopped")
        frozen.second = self._second_run(child.pid, frozen.run.backend, self._run_env(frozen.run))

    def _take_over(self, frozen: RunRecord, child: Child) -> None:
        """Once the stopped run's lease has run out, a second run takes the send over and runs to its end (the
        stopped run is made another host's: one of this host whose process lives is never taken over)."""
        if not self._lease_ran_out(child, OTHER_HOST):
            return
        if not child.stopped():
            raise RuntimeError(f"harness: process {child.pid} was sent SIGSTOP but is not stopped")
        sg = self.servers.sendgrid
        frozen.frozen_at = read_ledger(self.database)
        answers_left = len(sg.faults)
        output = self.cli(*self._plain_args(frozen.run.backend), env=self._run_env(frozen.run))
        answers = frozen.run.sendgrid_answers
        used = answers[len(answers) - answers_left: len(answers) - len(sg.faults)]
        frozen.takeover = RunRecord(frozen.step, Run(frozen.run.backend), output, frozen.frozen_at,
                                    read_ledger(self.database), self.listing(), frozenset(), created=False,
                                    fired=False, answers_used=used)
        if not child.stopped():
            raise RuntimeError(f"harness: process {child.pid} resumed before the takeover ended")

    def _second_run(self, holder_pid: int, backend: str, env: dict[str, str], own_process: bool = False) -> SecondRun:
        before = self._footprint()
        listing = self.listing()
        args = self._plain_args(backend)
        if own_process:
            child = self.spawn(f"second-{holder_pid}", *args, env=env)
            child.wait()
            output = child.output()
        else:
            output = self.cli(*args, env=env)
        return SecondRun(output, holder_pid, before, self._footprint(), listing)

    def _footprint(self) -> tuple[Any, ...]:
        """What a refused run must leave alone while another run holds the send (which changes only deliveries)."""
        with closing(sqlite3.connect(self.database, timeout=60)) as conn:
            runs = conn.execute("SELECT COUNT(*) FROM send_runs").fetchone()[0]
            sends = conn.execute("SELECT * FROM sends ORDER BY id").fetchall()
        return runs, sends
