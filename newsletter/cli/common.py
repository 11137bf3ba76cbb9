"""Small helpers shared by the CLI command modules: settings, who acts, output, progress, and what
``send`` and ``resume`` print (the plan, the confirmation, the report) and how they stop.

Output follows the usual conventions: colour and bars only on a terminal and
never with ``NO_COLOR`` set; ``--json`` prints one JSON document (an array for
lists, streamed so memory stays flat) and ``--jsonl`` one object per line.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

import typer

from newsletter.errors import ExitStatus, InputError, NewsletterError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from newsletter.delivery.plan import SendPlan, SendReport
    from newsletter.settings import Settings

JSON_HELP = "Print one JSON document (an array for lists)."
JSONL_HELP = "Print one JSON object per line (JSON Lines), as each is read."
#: The largest id a database row can have (a signed 64-bit integer): a send id beyond it is a usage error,
#: not an overflow deep in the database driver.
MAX_ID = 2**63 - 1


def command_settings(**overrides: Any) -> Settings:
    """Settings from env and .env, with the command's explicit options on top."""
    from newsletter.settings import load_settings  # here, not above: `newsletter --help` needs no settings

    return load_settings().with_overrides(**overrides)


def echo_findings(findings: Iterable[object]) -> None:
    """Print check findings (warnings and errors), one line each, to stderr."""
    for finding in findings:
        typer.echo(str(finding), err=True)


def console(*, stderr: bool = False) -> Console:
    """A rich console for tables: colour only on a terminal and without ``NO_COLOR``."""
    from rich.console import Console

    # rich already drops colour for pipes and files; say NO_COLOR explicitly so a
    # forced terminal (FORCE_COLOR, TTY_COMPATIBLE) still honours it.
    return Console(stderr=stderr, no_color="NO_COLOR" in os.environ or None)


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def echo_json(value: object) -> None:
    """Print ``value`` as one indented JSON document."""
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def echo_json_rows(rows: Iterable[dict[str, Any]], *, lines: bool) -> int:
    """Print ``rows`` as one JSON array, or as JSON Lines when ``lines``; return how many.

    The array is written as rows arrive, so a long list never sits in memory
    and ``newsletter ... --json | jq '.[]'`` still reads one valid document.
    """
    count = 0
    for row in rows:
        if lines:
            typer.echo(_dumps(row))
        else:
            typer.echo(("[\n  " if count == 0 else ",\n  ") + _dumps(row), nl=False)
        count += 1
    if not lines:
        typer.echo("[]" if count == 0 else "\n]")
    return count


#: A rate over less time than this says more about start-up than about speed: not shown.
MIN_RATE_SECONDS = 0.5


class ProgressReporter:
    """How far long work has got, on stderr, wherever the command runs.

    On a terminal: a rich bar with count, rate and time left (no colour with
    ``NO_COLOR``). Without one (cron, CI, a pipe): a plain line at most every
    ``interval`` seconds, such as ``Importing: 12,000/50,000 rows (24%), 3,100
    rows/s``, and a last line when it closes – so a log shows the job is alive.
    Call it with ``(done, total)``; ``total`` may be ``None`` when unknown.
    Use it as a context manager so the bar is always taken down.
    """

    def __init__(
        self,
        label: str,
        unit: str = "items",
        *,
        interval: float = 5.0,
        stream: TextIO | None = None,
        terminal: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.unit = unit
        self.interval = interval
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = terminal
        self.clock = clock
        self.done = 0
        self.total: int | None = None
        self._started = clock()
        self._last_line: float | None = None
        self._last_written: int | None = None
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def _is_terminal(self) -> bool:
        if self.terminal is None:
            self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        return self.terminal

    def __call__(self, done: int, total: int | None = None) -> None:
        self.done, self.total = done, total
        if self._is_terminal():
            self._update_bar()
            return
        now = self.clock()
        if now - (self._last_line if self._last_line is not None else self._started) >= self.interval:
            self._last_line = now
            self._write_line()

    def _update_bar(self) -> None:
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            out = Console(file=self.stream, force_terminal=True, no_color="NO_COLOR" in os.environ or None)
            self._bar = Progress(
                TextColumn(self.label), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=out,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, rate="")
        assert self._task is not None
        self._bar.update(self._task, completed=self.done, total=self.total, rate=self._rate())

    def _rate(self) -> str:
        """'3,100 rows/s' over the whole run so far; '' until it means something (no work yet, or under
        ``MIN_RATE_SECONDS``: a bar at its start read '0 messages/s', and rich's windowed speed fell to 0 at
        the end)."""
        elapsed = self.clock() - self._started
        if self.done <= 0 or elapsed < MIN_RATE_SECONDS:
            return ""
        return f"{self.done / elapsed:,.0f} {self.unit}/s"

    def _write_line(self) -> None:
        count = f"{self.done:,}" if self.total is None else f"{self.done:,}/{self.total:,}"
        share = f" ({self.done * 100 // self.total}%)" if self.total else ""
        rate = self._rate()
        rate = f", {rate}" if rate else ""
        self.stream.write(f"{self.label}: {count} {self.unit}{share}{rate}\n")
        self.stream.flush()
        self._last_written = self.done

    def close(self) -> None:
        """Take the bar down, or end the plain lines with the final count (if any line was written)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        elif self._last_written is not None and self._last_written != self.done:
            self._write_line()

    def __enter__(self) -> ProgressReporter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@contextmanager
def working(what: str, *, stream: TextIO | None = None, terminal: bool | None = None) -> Iterator[None]:
    """Say on stderr that slow work is under way ('Scoring with SpamAssassin'): a spinner on a
    terminal, gone when it ends, so nobody stares at nothing. Without a terminal (a script, CI) it says
    nothing: the command's own output, or its one error line, is all that is read there."""
    out = stream if stream is not None else sys.stderr
    if terminal is None:
        terminal = bool(getattr(out, "isatty", lambda: False)())
    if not terminal:
        yield
        return
    from rich.console import Console

    spinner = Console(file=out, force_terminal=True, no_color="NO_COLOR" in os.environ or None)
    with spinner.status(f"{what}...", spinner="dots"):
        yield


def actor(as_: str | None) -> str:
    """Who is acting, for the audit log: ``--as``, else git's identity, else the login name."""
    import getpass

    from newsletter.release.approvals import identity

    try:
        return identity(as_, Path.cwd())
    except InputError:
        if as_:
            raise
        return getpass.getuser()


@contextmanager
def graceful_stop() -> Iterator[threading.Event]:
    """SIGTERM and a first Ctrl-C set the event (stop after the batch in flight); a second Ctrl-C interrupts."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()
        typer.echo("Stopping after the batch in flight (Ctrl-C again to stop at once)...", err=True)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def echo_plan(plan: SendPlan) -> None:
    """Print what a send is about to do (before it is confirmed)."""
    options = plan.options
    typer.echo(f"Issue:      {plan.slug}")
    typer.echo(f"Subject:    {plan.subject}")
    typer.echo(f"From:       {plan.sender}")
    typer.echo(f"Backend:    {plan.backend}")
    typer.echo(f"List:       {plan.list_name}" + (f" where {plan.audience.where_key}" if plan.audience.where_key else ""))
    source = plan.audience.non_readers_of
    if source is not None:
        started = plan.already_accepted or plan.in_doubt or plan.failed or plan.in_flight
        typer.echo(f"Resend:     the non-readers of send {source}, fixed when this send started" if started else
                   f"Resend:     {plan.to_send:,} of {plan.source_accepted:,} recipients of send {source} "
                   "have no human open or click" + (" and match the conditions" if plan.audience.conditions else ""))
    typer.echo(f"Recipients: {plan.to_send} to send ({plan.suppressed} suppressed, {plan.already_accepted} already sent)")
    settled = plan.settled_accepted + plan.settled_failed
    if settled:
        typer.echo(f"Settled:    {settled} in doubt settled from the provider's events "
                   f"({plan.settled_accepted} accepted, {plan.settled_failed} failed)")
    in_doubt = plan.in_doubt - settled
    if in_doubt:
        what = "will be re-sent" if options.resend_in_doubt else "will be skipped" if options.skip_in_doubt else (
            "left alone: choose --resend-in-doubt or --skip-in-doubt"
        )
        typer.echo(f"In doubt:   {in_doubt} from an earlier run ({what})")
    if plan.in_flight:
        typer.echo(f"In flight:  {plan.in_flight} with another run now (left to it)")
    if plan.failed:
        typer.echo(f"Failed:     {plan.failed} earlier ({'will be retried' if options.retry_failed else 'retry with --retry-failed'})")
    if plan.joined_since:
        typer.echo(f"Joined:     {plan.joined_since} joined the list after the send started "
                   f"({'will be sent' if options.include_new else 'send them with --include-new'})")
    if plan.changed and plan.send_id is not None:
        typer.echo("Note:       the issue changed since the earlier run (--allow-changed)")
    test = options.test
    if test is not None and plan.send_id is None:
        subjects = ", ".join(f"{v} {s!r}" for v, s in zip(test.variants, (plan.subject, *test.subjects), strict=True))
        how = "`newsletter pick SEND VARIANT`" if test.pick == "manual" else f"most human {test.pick}, ties to A"
        typer.echo(f"Test:       {plan.to_send} drawn at random ({test.share}%) get {subjects}; the other {plan.held} "
                   f"get the winner ({how}) after {test.wait_seconds // 60} min")
    elif plan.held:
        typer.echo(f"Held:       {plan.held} wait for the subject test's pick")
    for warning in plan.warnings:
        typer.echo(f"warning: {warning}", err=True)


#: Backends that reach real people: their confirmation says whether the From domain's DNS is ready.
DNS_CHECKED_BACKENDS = ("smtp", "sendgrid")


def echo_dns(plan: SendPlan, settings: Settings) -> None:
    """One line on the From domain's SPF, DKIM key, DMARC and bounce MX (``review/dns.py``), for a backend
    that reaches real people; nothing (and no lookup) for the outbox. Never stops the send: a resolver
    that cannot be used is said on the line, and a server that does not answer is one finding."""
    if plan.backend not in DNS_CHECKED_BACKENDS:
        return
    from newsletter.review.dns import dns_findings, summary_line

    try:
        line = summary_line(dns_findings(settings, plan.sender))
    except NewsletterError as exc:
        line = f"DNS:        not checked: {exc}"
    typer.echo(line)


def confirm_plan(yes: bool, settings: Settings | None = None) -> Callable[[SendPlan], bool]:
    """The ``confirm(plan)`` of ``send``: show the plan (with ``settings``, the DNS line too), then ask
    (or not, with --yes)."""

    def confirm(plan: SendPlan) -> bool:
        echo_plan(plan)
        if settings is not None:
            echo_dns(plan, settings)
        if yes:
            return True
        if not sys.stdin.isatty():
            raise InputError("no terminal to confirm on: pass --yes to send (or --dry-run to look)")
        return typer.confirm(f"Send to {plan.total} recipient(s)?", default=False)

    return confirm


def echo_paused(report: SendReport) -> None:
    """Say that the send was paused during the run, with its totals and how to continue it; exit 3."""
    typer.echo(f"Send {report.send_id} paused: {report.totals.line()}; `newsletter resume {report.send_id}` "
               "continues it.", err=True)
    raise typer.Exit(ExitStatus.INCOMPLETE)


def echo_report(report: SendReport) -> None:
    """Print what a send did (its summary, failures and doubts) and exit with its status."""
    if report.dry_run:
        echo_plan(report.plan)
        typer.echo("Dry run: nothing sent, nothing written.")
        return
    if report.cancelled:
        typer.echo("Cancelled: nothing sent.", err=True)
        raise typer.Exit(ExitStatus.ERROR)
    if report.settled:
        typer.echo(f"Settled {report.settled} in-doubt recipient(s) from the provider's events.")
    typer.echo(
        f"Send {report.send_id} ({report.status}): {report.totals.line()}; "
        f"this run: {report.accepted} accepted, {report.failed} failed, {report.in_doubt} in doubt"
    )
    for address, error in report.failures[:10]:
        typer.echo(f"failed: {address}: {error}", err=True)
    if report.totals.in_doubt:
        shown = ", ".join(report.in_doubt_sample[:5]) + (" ..." if report.totals.in_doubt > 5 else "")
        typer.echo(
            f"in doubt: {report.totals.in_doubt} recipient(s) may or may not have received it ({shown}); "
            "re-run with --resend-in-doubt or --skip-in-doubt",
            err=True,
        )
    if report.interrupted:
        typer.echo("Stopped before the end: run the same command again to resume.", err=True)
        raise typer.Exit(ExitStatus.INTERRUPTED)
    if not report.ok:
        raise typer.Exit(ExitStatus.INCOMPLETE)
