"""``newsletter subscribers import|add|unsubscribe|list`` and ``newsletter lists``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from newsletter.cli.common import settings

subscribers_app = typer.Typer(
    name="subscribers",
    help="Import, add, unsubscribe and list subscribers.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@subscribers_app.command("import")
def import_(
    file: Path = typer.Argument(..., help="CSV file with a header row; 'email' required, 'name' optional.", show_default=False),
    list_name: str = typer.Option(..., "--list", help="List to put the subscribers on (created if new)."),
) -> None:
    """Import subscribers from a CSV file (invalid rows are reported and skipped)."""
    from newsletter.subscribers import import_csv

    result = import_csv(file, list_name, settings())
    for line, reason in result.invalid:
        typer.echo(f"{file}:{line}: skipped: {reason}", err=True)
    if result.invalid_count > len(result.invalid):
        typer.echo(f"{file}: {result.invalid_count - len(result.invalid)} more invalid rows not shown", err=True)
    typer.echo(
        f"List {result.list_name!r}: {result.added} added, {result.updated} updated, "
        f"{result.invalid_count} invalid, {result.suppressed} suppressed"
        + (f", {result.duplicates} duplicate rows merged" if result.duplicates else "")
    )


@subscribers_app.command("add")
def add(
    email: str = typer.Argument(..., help="The address.", show_default=False),
    list_name: str = typer.Option(..., "--list", help="List to put the subscriber on (created if new)."),
    name: str = typer.Option("", "--name", help="The subscriber's name."),
) -> None:
    """Add one subscriber (or update their name) and put them on a list."""
    from newsletter.subscribers import add_subscriber

    result = add_subscriber(email, list_name, settings(), name=name)
    note = "" if result.status == "active" else f" (status stays {result.status})"
    typer.echo(f"{result.email}: {result.action}, on list {result.list_name!r}{note}")


@subscribers_app.command("unsubscribe")
def unsubscribe(email: str = typer.Argument(..., help="The address.", show_default=False)) -> None:
    """Mark a subscriber unsubscribed: they are never sent to again."""
    from newsletter.subscribers import unsubscribe as unsubscribe_address

    previous = unsubscribe_address(email, settings())
    if previous == "active":
        typer.echo(f"{email.strip()}: unsubscribed")
    else:
        typer.echo(f"{email.strip()}: already {previous}")


@subscribers_app.command("list")
def list_(
    list_name: str = typer.Option(None, "--list", help="Only members of this list."),
    status: str = typer.Option(None, "--status", help="Only this status: active, unsubscribed, bounced, complained."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """List subscribers (email, status, name)."""
    from newsletter.subscribers import list_subscribers

    count = 0
    for row in list_subscribers(settings(), list_name=list_name, status=status):
        count += 1
        if as_json:
            typer.echo(json.dumps(row.as_dict(), ensure_ascii=False))
        else:
            typer.echo(f"{row.email}\t{row.status}\t{row.name}")
    if not as_json:
        typer.echo(f"{count} subscriber(s)", err=True)


def lists() -> None:
    """Show every list with its member and active counts."""
    from newsletter.subscribers import list_lists

    rows = list_lists(settings())
    if not rows:
        typer.echo("No lists yet (create one with `newsletter subscribers import FILE --list NAME`).")
    for row in rows:
        typer.echo(f"{row['name']}\t{row['members']} members\t{row['active']} active")


def register(app: typer.Typer) -> None:
    """Add ``subscribers`` and ``lists`` to the root app."""
    app.add_typer(subscribers_app)
    app.command()(lists)
