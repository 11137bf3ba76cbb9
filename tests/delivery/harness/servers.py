"""The machinery under a schedule: the two servers, the moment a run reaches, and runs in processes of their own.

``Servers`` holds the SendGrid stand-in and a real aiosmtpd server for many
schedules. ``Moment`` is the servers' ``tap`` during one run: it counts the
run's units (SendGrid requests, SMTP messages) and, at the one the schedule
chose, kills or stops the run's process, or stalls the server while a second
run is tried. ``Child`` is ``newsletter ARGS`` in a process the harness may kill.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.delivery.fakes import RecordingHandler, SendGridStandIn, free_port
from tests.delivery.harness.cli_main import context, run_cli
from tests.delivery.harness.schedule import Process

#: Longest wait for anything a run should do by itself (a stalled server, a process's end).
DEADLINE_S = 120.0
#: SENDGRID_TIMEOUT in the harness: the "timeout" answer comes this much later.
SENDGRID_TIMEOUT_S = 2.0  # long enough that a loaded machine does not time out by itself


def wire(email: str) -> str:
    """An address as the servers see it (international domain in IDNA form), lower case: receipts are matched on it."""
    local, _, domain = email.rpartition("@")
    if not domain.isascii():
        import idna

        domain = idna.encode(domain, uts46=True).decode("ascii")
    return f"{local}@{domain}".lower()


@dataclass
class Output:
    """What one command did: exit status (negative: killed by that signal), output, an exception that escaped."""

    exit_code: int | None
    stdout: str = ""
    stderr: str = ""
    crash: str = ""


@dataclass(frozen=True)
class Copy:
    """One copy a server received: for whom (envelope), and whose address, name and id it carries."""

    to: str
    email: str
    name: str
    subscriber_id: int | None  # SendGrid's custom_args (SMTP messages carry none in the clear)


class Servers:
    """The SendGrid stand-in and the aiosmtpd server (SMTPUTF8 on) that a world's schedules share."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.sendgrid = SendGridStandIn().start()
        self.smtp = RecordingHandler()
        self.smtp_port = free_port()
        self.controller = Controller(self.smtp, hostname="127.0.0.1", port=self.smtp_port, enable_SMTPUTF8=True)
        self.controller.start()

    def reset(self) -> None:
        """Forget the last schedule (stalled handlers were released when its runs ended)."""
        sg, smtp = self.sendgrid, self.smtp
        with sg.lock:
            sg.release.set()
            sg.faults, sg.requests, sg.accepted, sg.statuses, sg.violations = [], [], [], [], []
            sg.delivered = Counter()
            sg.hung, sg.release, sg.tap = threading.Event(), threading.Event(), None
            sg.slow_s = SENDGRID_TIMEOUT_S + 2.0
            sg.latency_s = 0.0
        smtp.release.set()
        smtp.messages, smtp.refuse, smtp.refuse_data = [], {}, {}
        smtp.hung, smtp.release, smtp.tap = threading.Event(), threading.Event(), None

    def copies(self, subject: str) -> list[Copy]:
        """Every copy of the message with ``subject`` received, with what it says about its recipient."""
        import email
        import email.policy
        import html

        with self.sendgrid.lock:
            accepted = list(self.sendgrid.accepted)
        found = [Copy(wire(p["to"][0]["email"]), wire(html.unescape(p["substitutions"]["%%email%%"])),
                      html.unescape(p["substitutions"]["%%name%%"]), int(p["custom_args"]["subscriber_id"]))
                 for a in accepted if a["body"]["subject"] == subject for p in [a["personalization"]]]
        for _, rcpts, data in list(self.smtp.messages):
            message = email.message_from_bytes(data, policy=email.policy.default)
            if message["Subject"] != subject:
                continue
            text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            greeting = text.split("Hello ", 1)[-1].split(", this is the issue", 1)[0]
            # A UTF-8 header (SMTPUTF8) arrives surrogate-escaped: read it back as UTF-8.
            to = message["To"].addresses[0].addr_spec.encode("utf-8", "surrogateescape").decode("utf-8")
            found.extend(Copy(wire(r), wire(to), greeting, None) for r in rcpts)
        return found

    def received(self, subject: str) -> Counter[str]:
        """Copies of the message with ``subject`` received per address (``wire`` form), both servers together."""
        return Counter(copy.to for copy in self.copies(subject))

    def close(self) -> None:
        """Stop both servers."""
        self.smtp.release.set()
        self.controller.stop()
        self.sendgrid.stop()


class Moment:
    """Counts a run's units as the servers see them, and acts at the one the schedule chose.

    kill/term/freeze: send the run's process SIGKILL/SIGTERM/SIGSTOP there (a
    kill at ``lost``: the unit is then not taken). concurrent: stall the server
    there until ``resume`` is set. ``pause_at``: when that many units of this
    run are taken (``ours(what)``: not a late one of a run killed before it),
    call ``on_pause`` (the operator's ``newsletter pause``) before the server
    answers the unit. ``in_flight`` says how many SendGrid requests are out.
    """

    PHASE = {"request": "lost", "accepted": "taken", "answered": "answered",  # SendGrid's stages
             "data": "lost", "taken": "taken"}  # SMTP's ("answered" is shared)

    def __init__(self, process: Process, pause_at: int = 0, on_pause: Callable[[], None] | None = None,
                 in_flight: Callable[[], int] = lambda: 0, ours: Callable[[Any], bool] = lambda what: True) -> None:
        self.process = process
        self.cond = threading.Condition()
        self.units = Counter[str]()
        self.pid = 0
        self.fired = self.stalled = self.over = False
        self.resume = threading.Event()
        self.pause_at, self.on_pause, self.in_flight, self.ours = pause_at, on_pause, in_flight, ours
        self.pausing = False
        self.own_taken = 0  # units taken that are this run's (counted only while a pause is to come)
        self.paused = threading.Event()  # the pause made during the run has returned
        self.in_flight_at_event = 0

    def tap(self, stage: str, what: Any) -> str | None:
        """The servers' ``tap``: count, and act when the chosen unit comes."""
        phase = self.PHASE[stage]
        p = self.process
        own = (phase == "taken" and self.on_pause is not None and not self.pausing and not self.over
               and self.ours(what))
        with self.cond:
            self.own_taken += own
            self.units[phase] += 1
            hit = (p.kind != "inline" and self.pid > 0 and not self.fired and phase == p.phase
                   and self.units[phase] == p.at)  # (a late message of an earlier run before this one started: no)
            self.fired = self.fired or hit
            self.stalled = self.stalled or (hit and p.kind == "concurrent")
            pause = own and not self.pausing and not self.over and self.own_taken == self.pause_at
            self.pausing = self.pausing or pause
            self.cond.notify_all()
        if hit:
            self.in_flight_at_event = self.in_flight()
        action = self._act(phase) if hit else None
        if pause:
            assert self.on_pause is not None
            try:
                self.on_pause()
            finally:
                self.paused.set()
        return action

    def _act(self, phase: str) -> str | None:
        p = self.process
        if p.kind in ("kill", "term", "freeze"):
            os.kill(self.pid, {"kill": signal.SIGKILL, "term": signal.SIGTERM, "freeze": signal.SIGSTOP}[p.kind])
            return "drop" if phase == "lost" and p.kind == "kill" else None  # died before it all went out
        self.resume.wait(DEADLINE_S)
        return "drop" if phase == "lost" and p.then == "kill" else None

    def wait_for(self, condition: Callable[[], bool]) -> bool:
        """Wait until ``condition()`` (checked whenever a unit is counted or the run ends); False after the deadline."""
        with self.cond:
            return self.cond.wait_for(condition, DEADLINE_S)

    def end(self) -> None:
        """The run is over: wake every waiter, release a stall; wait for a pause under way to return."""
        with self.cond:
            self.over = True
            pausing = self.pausing
            self.cond.notify_all()
        self.resume.set()
        if pausing:
            self.paused.wait(DEADLINE_S)

    def watch(self, child: Child) -> None:
        """End the moment when ``child`` exits (the only thread that waits for it)."""
        def wait() -> None:
            child.wait()
            self.end()

        threading.Thread(target=wait, name="harness-watch", daemon=True).start()


#: Held while multiprocessing reads a child's exit status: it reads it from the forkserver once, and starting a
#: process polls every child (``Process.start`` cleans up ended ones), so two threads at once would both read it
#: and one would get nothing (exit code 255). Never held while waiting for a process to end.
_status = threading.Lock()


class Child:
    """``newsletter ARGS`` in a process of its own (see ``cli_main``); its output goes to two files."""

    def __init__(self, args: list[str], env: dict[str, str], batch: int, folder: Path, name: str) -> None:
        """Start ``newsletter ARGS`` with the settings ``env`` and batches of ``batch``; ``name`` its output files."""
        self.stdout, self.stderr = folder / f"{name}.out", folder / f"{name}.err"
        self.process = context().Process(target=run_cli, args=(args, env, batch, str(self.stdout), str(self.stderr)),
                                         name=f"newsletter {name}")
        with _status:
            self.process.start()
        assert self.process.pid is not None
        self.pid: int = self.process.pid
        self.ended = threading.Event()

    def wait(self) -> None:
        """Wait for the process to end (one thread only: multiprocessing reads its status once)."""
        from multiprocessing.connection import wait

        wait([self.process.sentinel])
        with _status:
            self.process.join()
        self.ended.set()

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the process (if it still runs)."""
        if self.ended.is_set():
            return
        try:
            os.kill(self.pid, signum)
            if signum == signal.SIGKILL:
                os.kill(self.pid, signal.SIGCONT)  # a stopped process dies only once it runs
        except ProcessLookupError:
            pass  # it ended a moment ago (``ended`` is set once the waiting thread has seen it)

    def stopped(self) -> bool:
        """Whether the process is stopped (SIGSTOP) right now."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[-1].split()[0] == "T"

    def output(self, crash: str = "") -> Output:
        """Its exit status and what it printed (once it has ended)."""
        def read(path: Path) -> str:
            return path.read_text("utf-8", "replace") if path.exists() else ""

        with _status:
            code = self.process.exitcode
        return Output(code, read(self.stdout), read(self.stderr), crash)
