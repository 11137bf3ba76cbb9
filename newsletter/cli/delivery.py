"""``newsletter send``, ``newsletter sends`` and ``newsletter test-send``."""

from __future__ import annotations

import math
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import List, Optional

import typer

from newsletter.cli.common import settings
from newsletter.errors import ExitStatus, InputError

ISSUE_ARG = typer.Argument(..., help="The issue file (Markdown with YAML frontmatter).", show_default=False)
BACKEND_OPT = typer.Option(None, "--backend", help="outbox, smtp or sendgrid [default: NEWSLETTER_BACKEND or outbox].")


def _echo_plan(plan) -> None:
    options = plan.options
    typer.echo(f"Issue:      {plan.slug}")
    typer.echo(f"Subject:    {plan.subject}")
    typer.echo(f"From:       {plan.sender}")
    typer.echo(f"Backend:    {plan.backend}")
    typer.echo(f"List:       {plan.list_name}")
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
    if plan.failed:
        typer.echo(f"Failed:     {plan.failed} earlier ({'will be retried' if options.retry_failed else 'retry with --retry-failed'})")
    if plan.joined_since:
        typer.echo(f"Joined:     {plan.joined_since} joined the list after the send started "
                   f"({'will be sent' if options.include_new else 'send them with --include-new'})")
    if plan.changed and plan.send_id is not None:
        typer.echo("Note:       the issue changed since the earlier run (--allow-changed)")
    for warning in plan.warnings:
        typer.echo(f"warning: {warning}", err=True)


class _Bar:
    """A rich progress bar with rate and ETA on stderr (only on a terminal)."""

    def __init__(self) -> None:
        self.progress = None
        self.task = None

    def __call__(self, done: int, total: int, counts: dict) -> None:
        if self.progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            console = Console(stderr=True)
            if not console.is_terminal:
                self.progress = False
                return
            self.progress = Progress(
                TextColumn("Sending"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                console=console,
            )
            self.progress.start()
            self.task = self.progress.add_task("send", total=total, rate="")
        if self.progress:
            speed = self.progress.tasks[0].speed or 0
            self.progress.update(self.task, completed=done, total=max(total, done), rate=f"{speed:,.0f} msg/s")

    def stop(self) -> None:
        if self.progress:
            self.progress.stop()


@contextmanager
def _graceful_stop():
    """SIGTERM and a first Ctrl-C set the event (stop after the batch in flight); a second Ctrl-C interrupts."""
    stop = threading.Event()

    def handler(signum, frame) -> None:
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


def send(
    issue: Path = ISSUE_ARG,
    list_name: str = typer.Option(..., "--list", help="The list to send to."),
    backend: Optional[str] = BACKEND_OPT,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; send and write nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    rate: Optional[float] = typer.Option(None, "--rate", help="At most N messages per second [default: NEWSLETTER_RATE, 0 = no limit]."),
    allow_changed: bool = typer.Option(False, "--allow-changed", help="Continue a partial send although the issue changed."),
    resend_in_doubt: bool = typer.Option(False, "--resend-in-doubt", help="Send again to recipients whose delivery is in doubt."),
    skip_in_doubt: bool = typer.Option(False, "--skip-in-doubt", help="Give up on recipients whose delivery is in doubt."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Retry recipients whose delivery failed."),
    include_new: bool = typer.Option(False, "--include-new", help="Also send to members who joined the list after the send started."),
) -> None:
    """Send an issue to a list, each subscriber exactly once (re-run to resume).

    Exit status: 0 all accepted; 3 some recipients failed, are in doubt or
    still pending; 1 an operational failure; 2 bad usage or input; 130
    interrupted (the summary is printed first).
    """
    from newsletter.delivery.engine import send_issue
    from newsletter.delivery.plan import SendOptions

    if rate is not None and not (math.isfinite(rate) and rate >= 0):
        raise InputError(f"must be 0 (no limit) or a positive number, got {rate!r}", subject="--rate")
    config = settings(newsletter_backend=backend)
    options = SendOptions(
        list_name=list_name, dry_run=dry_run, rate=rate, allow_changed=allow_changed,
        resend_in_doubt=resend_in_doubt, skip_in_doubt=skip_in_doubt, retry_failed=retry_failed,
        include_new=include_new,
    )

    def confirm(plan) -> bool:
        _echo_plan(plan)
        if yes:
            return True
        if not sys.stdin.isatty():
            raise InputError("no terminal to confirm on: pass --yes to send (or --dry-run to look)")
        return typer.confirm(f"Send to {plan.total} recipient(s)?", default=False)

    bar = _Bar()
    with _graceful_stop() as stop:
        try:
            report = send_issue(issue, options, config, confirm=confirm, progress=bar, stop=stop)
        finally:
            bar.stop()
    if report.dry_run:
        _echo_plan(report.plan)
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


def sends() -> None:
    """List sends with their status and counts (derived from the delivery ledger)."""
    from newsletter.delivery.engine import list_sends

    rows = list_sends(settings())
    if not rows:
        typer.echo("No sends yet.")
    for r in rows:
        totals = r["totals"]
        typer.echo(
            f"{r['id']}\t{r['slug']}\t{r['list']}\t{r['backend']}\t{r['status']}\t"
            f"{totals.recipients} recipients, {totals.line()}\t{r['created_at']}"
        )


def test_send(
    issue: Path = ISSUE_ARG,
    to: Optional[List[str]] = typer.Option(None, "--to", help="A reviewer's address (repeatable) [default: NEWSLETTER_REVIEWERS]."),
    backend: Optional[str] = BACKEND_OPT,
    screenshots: bool = typer.Option(False, "--screenshots", help="Attach phone/desktop, light/dark screenshots (needs Chromium)."),
) -> None:
    """Send reviewers a [TEST] copy with sample values (not recorded as a send)."""
    from newsletter.delivery.engine import send_review_copies

    report = send_review_copies(issue, settings(newsletter_backend=backend), to=to or (), screenshots=screenshots)
    for address, outcome in zip(report.recipients, report.outcomes):
        detail = f" ({outcome.error})" if outcome.error else ""
        typer.echo(f"{address}: {outcome.state}{detail}")
    where = f" -> {report.where}" if report.where else ""
    attached = f", {len(report.screenshots)} screenshots attached" if report.screenshots else ""
    typer.echo(f"Test copy {report.subject!r} via {report.backend}{where}{attached}")
    if not report.ok:
        raise typer.Exit(ExitStatus.INCOMPLETE)


def register(app: typer.Typer) -> None:
    """Add send, sends and test-send to the root app."""
    app.command()(send)
    app.command()(sends)
    app.command("test-send")(test_send)
