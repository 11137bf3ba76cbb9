"""CLI commands for tracking: ``serve``, ``stats`` and ``events import``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from newsletter.cli.common import JSON_HELP, ProgressReporter, console, echo_json
from newsletter.cli.common import command_settings as load

if TYPE_CHECKING:
    from newsletter.settings import Settings
    from newsletter.tracking.stats import SendStats


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port to listen on."),
    workers: int = typer.Option(1, "--workers", min=1, max=64,
                                help="Processes serving requests (with PostgreSQL, on one host or several)."),
) -> None:
    """Run the tracking server: one-click unsubscribe, SendGrid webhook, open/click tracking."""
    from newsletter.server import run_server

    run_server(load(), host=host, port=port, workers=workers)


def stats(
    target: str | None = typer.Argument(None, metavar="[ISSUE.md | SLUG]", help="One issue; default: every send."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    html: Path | None = typer.Option(None, "--html", metavar="REPORT.html",
                                     help="Also write the issue's send pages as one self-contained HTML file."),
) -> None:
    """Show what each send did: deliveries, bounces, opens, clicks, unsubscribes, top links."""
    from newsletter.tracking.stats import collect_stats

    config = load()
    if html is not None:
        _write_report(config, target, html)
    results = collect_stats(config, target)
    if as_json:
        echo_json([s.as_dict() for s in results])
        return
    if not results:
        typer.echo("No sends yet.")
        return
    _print_tables(results)


def _write_report(config: Settings, target: str | None, path: Path) -> None:
    from newsletter.errors import InputError
    from newsletter.server.dashboard_file import write_report

    if target is None:
        raise InputError("writes one issue's report: name the issue (newsletter stats ISSUE --html FILE)",
                         subject="--html")
    count = write_report(config, target, path)
    typer.echo(f"Wrote {path} ({count} send{'s' if count != 1 else ''}).", err=True)


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _print_tables(results: Sequence[SendStats]) -> None:
    from rich.table import Table

    out = console()
    for s in results:
        table = Table(title=f"{s.slug} -> list {s.list} (send {s.send_id}, {s.backend}, {s.status})",
                      show_header=False, title_justify="left")
        table.add_column("figure")
        table.add_column("value", justify="right")
        table.add_column("note", style="dim")
        table.add_row("Recipients", str(s.recipients), "")
        table.add_row("Accepted", str(s.accepted), "")
        if s.delivery_reported:
            table.add_row("Delivered", str(s.delivered), "reported by SendGrid only")
        else:
            table.add_row("Delivered", "unknown", f"{s.backend} does not report delivery; accepted is what we know")
        table.add_row("Bounced", str(s.bounced), "")
        beside = "{} machine, {} unknown; rates of {}"
        table.add_row("Human opens", f"{s.human_opens} ({_percent(s.open_rate)})",
                      beside.format(s.machine_opens, s.unknown_opens, s.rate_base))
        table.add_row("Human clicks", f"{s.human_clicks} ({_percent(s.click_rate)})",
                      beside.format(s.machine_clicks, s.unknown_clicks, s.rate_base))
        table.add_row("Unsubscribes", str(s.unsubscribes), "")
        table.add_row("Spam reports", str(s.spam_reports), "")
        out.print(table)
        out.print(s.open_rate_note, style="dim")
        if s.top_links:
            links = Table(title="Top links", title_justify="left")
            links.add_column("clicks", justify="right")
            links.add_column("people", justify="right")
            links.add_column("link", overflow="fold")
            for link in s.top_links:
                links.add_row(str(link.clicks), str(link.unique_clicks), link.url)
            out.print(links)


events_app = typer.Typer(
    help="Provider events (for teams that cannot expose the webhook).", no_args_is_help=True, rich_markup_mode=None
)


@events_app.command("import")
def import_events(
    file: Path = typer.Argument(..., metavar="FILE.json", help="A saved SendGrid event array."),
) -> None:
    """Load a saved SendGrid event array (same de-duplication as the webhook)."""
    from newsletter.tracking.provider_events import import_events_file

    with ProgressReporter("Importing", "events") as progress:
        result = import_events_file(file, load(), progress=progress)
    for line, reason in result.unusable:
        typer.echo(f"{file}:{line}: skipped: {reason}", err=True)
    if result.ignored > len(result.unusable):
        typer.echo(f"{file}: {result.ignored - len(result.unusable)} more unusable elements not shown", err=True)
    typer.echo(
        f"{result.received} events read: {result.stored} stored, {result.duplicates} already known, "
        f"{result.ignored} unusable, {result.status_changes} subscriber status changes."
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("serve")(serve)
    app.command("stats")(stats)
    app.add_typer(events_app, name="events")
