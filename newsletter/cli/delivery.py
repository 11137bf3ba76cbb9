"""``newsletter send``, ``newsletter sends`` and ``newsletter test-send``."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer

from newsletter.cli.common import (
    JSON_HELP,
    JSONL_HELP,
    MAX_ID,
    ProgressReporter,
    actor,
    command_settings,
    confirm_plan,
    echo_dns,
    echo_json_rows,
    echo_paused,
    echo_plan,
    echo_report,
    graceful_stop,
    working,
)
from newsletter.errors import ExitStatus, InputError

if TYPE_CHECKING:
    from newsletter.delivery.plan import SendOptions, SendPlan
    from newsletter.release.when import Moment
    from newsletter.settings import Settings

ISSUE_ARG = typer.Argument(..., help="The issue file (Markdown with YAML frontmatter).", show_default=False)
#: The choices of ``--backend`` (``delivery.registry.BACKENDS``; a test keeps them equal).
BackendName = Literal["outbox", "smtp", "sendgrid"]
BACKEND_OPT = typer.Option(None, "--backend", help="How to deliver [default: NEWSLETTER_BACKEND or outbox].")


def send(
    issue: Path = ISSUE_ARG,
    list_name: str = typer.Option(..., "--list", help="The list to send to."),
    backend: BackendName | None = BACKEND_OPT,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; send and write nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    rate: float | None = typer.Option(None, "--rate", help="At most N messages per second [default: NEWSLETTER_RATE, 0 = no limit]."),
    allow_changed: bool = typer.Option(False, "--allow-changed", help="Continue a partial send although the issue changed."),
    resend_in_doubt: bool = typer.Option(False, "--resend-in-doubt", help="Send again to recipients whose delivery is in doubt."),
    skip_in_doubt: bool = typer.Option(False, "--skip-in-doubt", help="Give up on recipients whose delivery is in doubt."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Retry recipients whose delivery failed."),
    include_new: bool = typer.Option(False, "--include-new", help="Also send to members who joined the list after the send started."),
    where: list[str] | None = typer.Option(None, "--where", help="Only members whose attribute matches: KEY=VALUE or KEY!=VALUE (repeatable; all must hold)."),
    allow_clipping: bool = typer.Option(False, "--allow-clipping", help="Send although Gmail will clip the HTML (hiding its end, the unsubscribe link included)."),
    segment: str | None = typer.Option(None, "--segment", help="Only the members of this saved segment of the list (see `newsletter segments`)."),
    at: str | None = typer.Option(None, "--at", help='Schedule it for this time, "YYYY-MM-DD HH:MM" (seconds, a T and an offset such as +01:00 are fine; see `newsletter worker`).'),
    tz: str | None = typer.Option(None, "--tz", help="The time zone of --at, such as Europe/Berlin (with an offset in --at: how it is shown) [default: NEWSLETTER_TIMEZONE]."),
    worker: bool = typer.Option(False, "--worker", help="Share the send with other `send --worker` processes, on this host or others (PostgreSQL)."),
    allow_local_links: bool = typer.Option(False, "--allow-local-links", help="Send over smtp/sendgrid although NEWSLETTER_PUBLIC_URL is local or not https:// (its links will not work for subscribers) [default: NEWSLETTER_ALLOW_LOCAL_LINKS]."),
    non_readers_of: int | None = typer.Option(None, "--to-non-readers-of", help="Resend to who received this send (an id from `newsletter sends`) and has no human open or click of it; once, a send of its own.", min=1, max=MAX_ID),
    subject: str | None = typer.Option(None, "--subject", help="The resend's subject instead of the issue's (with --to-non-readers-of)."),
    after: str | None = typer.Option(None, "--after", help="Schedule the resend this long after the send it follows finished: 3d, 12h, 1d12h (with --to-non-readers-of; a worker starts it)."),
    subject_b: str | None = typer.Option(None, "--subject-b", help="A subject test: variant B's subject (A is the issue's own)."),
    subject_c: str | None = typer.Option(None, "--subject-c", help="A subject test's variant C (with --subject-b)."),
    test: str | None = typer.Option(None, "--test", help="The share of the audience drawn at random for the subject test, such as 20%; the rest gets the winner."),
    wait: str | None = typer.Option(None, "--wait", help="How long the test runs before the pick, such as 4h (30m, 1d) [default: 4h]."),
    pick: str | None = typer.Option(None, "--pick", help="How the winner is picked: clicks, opens (human ones only) or manual (`newsletter pick`) [default: clicks]."),
) -> None:
    """Send an issue to a list, each subscriber exactly once (re-run to resume), now or --at a time.

    --to-non-readers-of SEND resends it to who received SEND and has no human
    open or click of it (once; now, or --after a delay once SEND finished).

    With NEWSLETTER_REQUIRED_APPROVALS set, only a build approved by that many
    people goes out (see `newsletter approve`).

    A subject test (--subject-b, --test) sends the test groups now; `newsletter
    worker` picks the winner after --wait and sends it to the rest (see
    `newsletter pick`).

    Exit status: 0 all accepted (or scheduled, or held for a subject test's
    pick); 3 some recipients failed, are
    in doubt or still pending, or the send was paused; 1 an operational
    failure or the release gate refused; 2 bad usage or input; 130
    interrupted (the summary is printed first).
    """
    from newsletter.delivery.plan import Controls, SendOptions
    from newsletter.delivery.subject_options import parse_test
    from newsletter.release.schedule import send_now

    if rate is not None and not (math.isfinite(rate) and rate >= 0):
        raise InputError(f"must be 0 (no limit) or a positive number, got {rate!r}", subject="--rate")
    config = command_settings(newsletter_backend=backend, newsletter_allow_local_links=allow_local_links or None)
    options = SendOptions(
        list_name=list_name, dry_run=dry_run, rate=rate, allow_changed=allow_changed,
        resend_in_doubt=resend_in_doubt, skip_in_doubt=skip_in_doubt, retry_failed=retry_failed,
        include_new=include_new, where=tuple(where or ()), segment=segment, allow_clipping=allow_clipping,
        worker=worker, at=at, tz=tz, non_readers_of=non_readers_of, subject=subject, after=after,
        test=parse_test((subject_b, subject_c), test, wait, pick),
    )
    if at is not None or tz is not None or after is not None:
        return _schedule(issue, options, config, yes)
    with graceful_stop() as stop, ProgressReporter("Sending", "messages") as reporter:
        controls = Controls(confirm_plan(yes, config), lambda done, total, counts: reporter(done, total), stop)
        report, hooks = send_now(issue, options, config, actor=actor(None), controls=controls)
    if hooks.paused:
        echo_paused(report)
    echo_report(report)


def _schedule(issue: Path, options: SendOptions, config: Settings, yes: bool) -> None:
    """``send --at``: schedule the send (a worker starts it, or SendGrid holds it until then)."""
    from newsletter.delivery.plan import Controls
    from newsletter.release.schedule import schedule

    if options.at is None and options.after is None:
        raise InputError("--tz goes with --at \"YYYY-MM-DD HH:MM\"", subject="--tz")
    if options.dry_run:
        which = "--at" if options.at is not None else "--after"
        raise InputError(f"--dry-run and {which} do not go together: look with --dry-run first, then schedule",
                         subject=which)

    def confirm(plan: SendPlan, moment: Moment, route: str) -> bool:
        echo_plan(plan)
        echo_dns(plan, config)
        how = ("SendGrid gets the batches now and releases them then, even to whoever leaves before then"
               if route == "sendgrid" else "`newsletter worker` starts it then")
        typer.echo(f"At:         {moment.local()} ({moment.zone}); {how}")
        if yes:
            return True
        if not sys.stdin.isatty():
            raise InputError("no terminal to confirm on: pass --yes to schedule")
        return typer.confirm(f"Schedule it for {plan.to_send} recipient(s)?", default=False)

    with graceful_stop() as stop, ProgressReporter("Handing over", "messages") as reporter:
        controls = Controls(confirm, lambda n, total, counts: reporter(n, total), stop)
        done = schedule(issue, options, config, actor=actor(None), controls=controls)
    if done.cancelled:
        typer.echo("Cancelled: nothing scheduled.", err=True)
        raise typer.Exit(ExitStatus.ERROR)
    if done.report is not None and not done.report.ok:
        echo_report(done.report)
        return
    how = f"SendGrid holds it (batch {done.batch_id})" if done.route == "sendgrid" else "a `newsletter worker` starts it"
    typer.echo(f"Scheduled send {done.send_id} for {done.moment.local()}: {how}. "
               f"`newsletter cancel {done.send_id}` cancels it.")


def _send_row(r: dict) -> dict:
    totals = r["totals"]
    return {
        "id": r["id"], "issue": r["slug"], "list": r["list"], "audience": r.get("audience", ""),
        "backend": r["backend"], "status": r["status"],
        "subject": r["subject"], "recipients": totals.recipients, "accepted": totals.accepted,
        "failed": totals.failed, "in_doubt": totals.in_doubt, "skipped": totals.skipped,
        "suppressed": totals.suppressed, "pending": totals.pending, "in_flight": totals.in_flight,
        "created_at": r["created_at"], "started_at": r["started_at"], "finished_at": r["finished_at"],
        "scheduled_for": r.get("scheduled_for"), "zone": r.get("zone"), "paused": r.get("paused", False),
        "held": totals.held, "subject_test": r.get("subject_test"),
    }


def sends(
    send_id: int | None = typer.Argument(None, help="Only this send.", show_default=False, min=1, max=MAX_ID),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    as_jsonl: bool = typer.Option(False, "--jsonl", help=JSONL_HELP),
    log: bool = typer.Option(False, "--log", help="Show the send's audit log: approvals, schedule, start, pause, resume, cancel."),
) -> None:
    """List sends with their status and counts (derived from the delivery ledger), and scheduled times."""
    from newsletter.release.controls import list_sends, send_log

    if log:
        if send_id is None:
            raise InputError("--log shows one send's log: name the send (newsletter sends SEND --log)", subject="--log")
        config = command_settings()
        entries = send_log(config, send_id)
        if as_json or as_jsonl:
            echo_json_rows(iter(entries), lines=as_jsonl)
            return
        for e in entries:
            typer.echo(f"{_local_time(e['at'], config.newsletter_timezone)}\t{e['action']}\t{e['actor']}\t{e['detail']}")
        return
    config = command_settings()
    rows = list_sends(config, send_id)
    if send_id is not None and not rows:
        raise InputError("no such send (see `newsletter sends`)", subject=str(send_id))
    if as_json or as_jsonl:  # unchanged: UTC times, as stored
        echo_json_rows((_send_row(r) for r in rows), lines=as_jsonl)
        return
    if not rows:
        typer.echo("No sends yet.")
        return
    typer.echo("ID\tISSUE\tLIST\tBACKEND\tSTATUS\tRECIPIENTS\tCREATED")
    for r in rows:
        totals = r["totals"]
        when = f" {r['scheduled_for']}" if r.get("scheduled_for") else ""
        typer.echo(
            f"{r['id']}\t{r['slug']}\t{r['list']}{' ' + r['audience'] if r.get('audience') else ''}\t{r['backend']}\t{r['status']}{when}\t"
            f"{totals.recipients} recipients, {totals.line()}\t{_local_time(r['created_at'], config.newsletter_timezone)}"
        )
        if r.get("subject_test"):
            from newsletter.release.subject_tests import summary

            for line in summary(r["subject_test"]):
                typer.echo(line)


def _local_time(stamp: str | None, zone_name: str) -> str:
    """A stored UTC time ('2026-12-07T16:50:00Z') as wall-clock time in NEWSLETTER_TIMEZONE (else UTC)."""
    from datetime import UTC, datetime

    from newsletter.release.when import local_text

    try:
        moment = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return str(stamp or "")
    return local_text(moment if moment.tzinfo else moment.replace(tzinfo=UTC), zone_name)


def test_send(
    issue: Path = ISSUE_ARG,
    to: list[str] | None = typer.Option(None, "--to", help="A reviewer's address (repeatable) [default: NEWSLETTER_REVIEWERS]."),
    backend: BackendName | None = BACKEND_OPT,
    screenshots: bool = typer.Option(False, "--screenshots", help="Attach phone/desktop, light/dark screenshots (needs Chromium)."),
) -> None:
    """Send reviewers a [TEST] copy with sample values (not recorded as a send)."""
    from newsletter.review.review_copies import send_review_copies

    if screenshots:  # Chromium takes a few seconds
        with working("Taking screenshots in Chromium and sending"):
            report = send_review_copies(issue, command_settings(newsletter_backend=backend), to=to or (),
                                        screenshots=screenshots)
    else:
        report = send_review_copies(issue, command_settings(newsletter_backend=backend), to=to or ())
    for warning in report.warnings:
        typer.echo(f"warning: {warning} (a real send refuses it)", err=True)
    for address, outcome in zip(report.recipients, report.outcomes, strict=True):
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
