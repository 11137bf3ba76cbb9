"""``newsletter approve``, ``approvals``, ``cancel``, ``pause``, ``resume``, ``pick`` and ``worker``."""

from __future__ import annotations

from pathlib import Path

import typer

from newsletter.cli.common import JSON_HELP, MAX_ID, actor, command_settings, echo_json
from newsletter.errors import ExitStatus

ISSUE_ARG = typer.Argument(..., help="The issue file (Markdown with YAML frontmatter).", show_default=False)
SEND_ARG = typer.Argument(..., help="The send's id (see `newsletter sends`).", show_default=False, min=1, max=MAX_ID)
AS_OPT = typer.Option(None, "--as", help="Who you are, 'Name <address>' [default: git's user.name and user.email].")


def approve(
    issue: Path = ISSUE_ARG,
    list_name: str = typer.Option(..., "--list", help="The list the build is approved for."),
    segment: str | None = typer.Option(None, "--segment", help="Only this saved segment of the list."),
    where: list[str] | None = typer.Option(None, "--where", help="Only members whose attribute matches: KEY=VALUE or KEY!=VALUE (repeatable)."),
    note: str = typer.Option("", "--note", help="A note kept with the approval."),
    as_: str | None = AS_OPT,
    sign: bool = typer.Option(False, "--sign", help="Sign the approval with your SSH key (ssh-keygen -Y sign)."),
    key: str | None = typer.Option(None, "--key", help="The SSH key to sign with [default: git's user.signingkey]."),
    non_readers_of: int | None = typer.Option(None, "--to-non-readers-of", help="A resend: the build for who received this send and did not read it (see `send --to-non-readers-of`).", min=1, max=MAX_ID),
    subject: str | None = typer.Option(None, "--subject", help="The resend's own subject (as `send --subject` gives it)."),
    sequence: str | None = typer.Option(None, "--sequence", metavar="NAME", help="A step of the list's welcome email ('welcome') or sequence NAME: the build for whoever the sequence reaches."),
) -> None:
    """Approve this exact build of an issue for an audience (written beside the issue: commit it).

    With --sequence, the issue is a step of the list's welcome email or sequence, and the sequence stands in
    for the audience (its members grow with every signup).
    """
    from newsletter.delivery.plan import SendOptions
    from newsletter.release.approve import Signing, approve_step
    from newsletter.release.approve import approve as record
    from newsletter.release.step_approvals import StepOf, check_step_options

    config, signing = command_settings(), Signing(key) if sign else None
    if sequence is not None:
        check_step_options(tuple(where or ()), segment, non_readers_of, subject)
        done = approve_step(issue, StepOf(list_name, sequence), config, note=note, as_=as_, signing=signing)
    else:
        options = SendOptions(list_name, where=tuple(where or ()), segment=segment, non_readers_of=non_readers_of,
                              subject=subject)
        done = record(issue, options, config, note=note, as_=as_, signing=signing)
    approval = done.approval
    counted = f"{approval.audience_count} enrolled now" if sequence is not None else f"{approval.audience_count} recipient(s)"
    what = f"build {approval.build.short} ({approval.build.audience.describe()}, {counted}) by {approval.by}"
    if not done.added:
        typer.echo(f"Already approved: {what} in {done.path}")
        return
    typer.echo(f"Approved {what}" + (", signed" if approval.signature else "") + f" -> {done.path}")
    typer.echo("Commit that file with the issue.")


def approvals(
    issue: Path = ISSUE_ARG,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List an issue's approvals and whether each still matches the build as it is now."""
    from newsletter.release.approve import review

    found = review(issue, command_settings())
    rows = [
        {"build": r.approval.build.id, "by": r.approval.by, "at": r.approval.at,
         "audience": r.approval.build.audience.describe(), "recipients": r.approval.audience_count,
         "sequence": r.approval.build.audience.sequence,
         "note": r.approval.note, "signature": r.signature, "counts": r.counted, "why": r.reason}
        for r in found.reviewed
    ]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        typer.echo(f"No approvals yet ({found.path} does not exist or is empty).")
    for r, row in zip(found.reviewed, rows, strict=True):
        verdict = "matches the current build" if r.counted else "does not count"
        counted = (f"sequence step ({row['recipients']} enrolled then)" if row["sequence"] is not None
                   else f"{row['recipients']} recipient(s)")
        typer.echo(f"{row['at']}  {row['by']}  build {r.approval.build.short}  {row['audience']}  "
                   f"{counted}  {row['signature']}: {verdict}"
                   + (f" ({r.reason})" if r.reason else "") + (f"  note: {row['note']}" if row["note"] else ""))
    # One line per audience approved (an issue may be a sequence's step and a send of its own as well).
    audiences = dict.fromkeys(row["audience"] for row in rows) or {"": None}
    for audience in audiences:
        people = sorted({r.approval.person for r, row in zip(found.reviewed, rows, strict=True)
                         if r.counted and row["audience"] == audience})
        typer.echo((f"{audience}: " if len(audiences) > 1 else "")
                   + f"{len(people)} of {found.required} required approval(s) from distinct people"
                   + (f" ({', '.join(people)})" if people else "") + ".")


def cancel(send_id: int = SEND_ARG, as_: str | None = AS_OPT) -> None:
    """Cancel a scheduled send before it starts (for SendGrid: until 10 minutes before its time)."""
    from newsletter.release.controls import cancel as cancel_send

    typer.echo(cancel_send(send_id, command_settings(), actor=actor(as_)))


def pause(send_id: int = SEND_ARG, as_: str | None = AS_OPT) -> None:
    """Pause a send: a running one stops after the batches in flight; a scheduled one does not start."""
    from newsletter.release.controls import pause as pause_send

    typer.echo(pause_send(send_id, command_settings(), actor=actor(as_)))


def resume(
    send_id: int = SEND_ARG,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    as_: str | None = AS_OPT,
) -> None:
    """Resume a paused send (a worker's send goes back to the workers; others continue here)."""
    from newsletter.cli.common import ProgressReporter, confirm_plan, echo_paused, echo_report, graceful_stop
    from newsletter.delivery.plan import Controls
    from newsletter.release.controls import resume as resume_send

    with graceful_stop() as stop, ProgressReporter("Sending", "messages") as reporter:
        config = command_settings()
        controls = Controls(confirm_plan(yes, config), lambda n, total, counts: reporter(n, total), stop)
        done = resume_send(send_id, config, actor=actor(as_), controls=controls)
    typer.echo(done.message)
    if done.report is not None and done.paused:  # paused again: as `send` says it
        echo_paused(done.report)
    if done.report is not None:
        echo_report(done.report)


def pick(
    send_id: int = SEND_ARG,
    variant: str = typer.Argument(..., help="The winning variant: A (the issue's own subject), B or C.", show_default=False),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    as_: str | None = AS_OPT,
) -> None:
    """Pick the winner of a send's subject test (--pick manual, or before its wait ends) and send it to the rest.

    The decision is recorded with who made it; the rest of the audience then
    gets VARIANT's subject, sent here as `resume` would (or by the worker that
    is sending it already). The decision is final: without --yes it is asked
    for first. Exit status: 0 sent; 1 already decided, cancelled, or the test
    groups are being sent; 2 no such send, no test or no such variant; 3 as
    `send`.
    """
    import sys

    from newsletter.cli.common import ProgressReporter, confirm_plan, echo_paused, echo_report, graceful_stop
    from newsletter.delivery.plan import Controls
    from newsletter.errors import InputError
    from newsletter.release.controls import pick as pick_variant

    def ask(question: str) -> bool:  # before the decision is recorded: a pick is not taken back
        if not sys.stdin.isatty():
            raise InputError("no terminal to confirm on: pass --yes to pick (the decision is final)")
        return typer.confirm(question, default=False)

    with graceful_stop() as stop, ProgressReporter("Sending", "messages") as reporter:
        config = command_settings()
        # Confirmed with the pick: the plan of the rest is shown, not asked about again.
        controls = Controls(confirm_plan(True, config), lambda n, total, counts: reporter(n, total), stop)
        done = pick_variant(send_id, variant, config, actor=actor(as_), controls=controls, ask=None if yes else ask)
    typer.echo(done.message)
    if done.report is not None and done.paused:
        echo_paused(done.report)
    if done.report is not None:
        echo_report(done.report)


def worker(
    once: bool = typer.Option(False, "--once", help="Start what is due now, then exit (for cron)."),
) -> None:
    """Start scheduled sends and send welcome emails and sequence steps when they are due; several workers may
    share the database.

    With NEWSLETTER_BOUNCE_MAILBOX set, also read the bounce mailbox every
    NEWSLETTER_BOUNCE_POLL_SECONDS (as `newsletter bounces fetch` does).
    """
    from newsletter.cli.common import graceful_stop
    from newsletter.release.worker import Worker

    config = command_settings()
    work = Worker(config, log=lambda line: typer.echo(line, err=True))
    with graceful_stop() as stop:
        if once:
            started = work.run_once(stop)
            failed = [s for s in started if s.state not in ("done", "scheduled")]
            typer.echo(f"Started {len(started)} send(s)." if started else "Nothing due.")
            if failed:
                raise typer.Exit(ExitStatus.INCOMPLETE)
            return
        bounces = (f"; the bounce mailbox every {config.newsletter_bounce_poll_seconds:g} s"
                   if config.newsletter_bounce_mailbox.strip() else "")
        typer.echo(f"{work.name}: waiting for scheduled sends and sequence steps (every "
                   f"{config.newsletter_worker_poll_seconds:g} s"
                   f"{bounces}; Ctrl-C stops)", err=True)
        work.run(stop)


def register(app: typer.Typer) -> None:
    """Add approve, approvals, cancel, pause, resume, pick and worker to the root app."""
    for command in (approve, approvals, cancel, pause, resume, pick, worker):
        app.command()(command)
