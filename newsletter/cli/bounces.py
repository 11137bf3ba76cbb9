"""``newsletter bounces fetch``: read the bounce mailbox of SMTP sends once."""

from __future__ import annotations

import typer

from newsletter.cli.common import JSON_HELP, ProgressReporter, command_settings, echo_json

bounces_app = typer.Typer(
    name="bounces",
    help="Bounces of SMTP sends: read the bounce mailbox into the ledger (hard, soft, complaints).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@bounces_app.command("fetch")
def fetch(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Read NEWSLETTER_BOUNCE_MAILBOX once: record bounces and complaints, suppress by the rules, remove
    (or move) what was recognised and leave everything else (replies, auto-replies) untouched."""
    from newsletter.tracking.bounces import fetch as fetch_bounces

    with ProgressReporter("Reading", "messages") as progress:
        report = fetch_bounces(command_settings(), progress=progress)
    if as_json:
        echo_json(report.as_dict())
        return
    acted = f"{report.moved} moved" if report.moved else f"{report.removed} removed"
    typer.echo(
        f"{report.read} messages read: {report.hard} hard bounces, {report.soft} soft bounces, "
        f"{report.delayed} delay notices, {report.complaints} complaints, {report.auto_replies} auto-replies, "
        f"{report.unrecognised} unrecognised, {report.unmatched} reports naming nothing of ours."
    )
    typer.echo(f"{report.suppressed} addresses suppressed, {report.settled} in-doubt deliveries settled; "
               f"{acted}, {report.kept} kept" + (f", {report.already_recorded} already recorded" if
                                                   report.already_recorded else "") + ".")
    for address in report.suppressed_sample:
        typer.echo(f"  suppressed: {address}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``bounces`` to the root app."""
    app.add_typer(bounces_app)
