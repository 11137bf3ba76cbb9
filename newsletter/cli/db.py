"""``newsletter db status|migrate|copy``: look after the store itself."""

from __future__ import annotations

import typer

from newsletter.cli.common import JSON_HELP, ProgressReporter, echo_json
from newsletter.cli.common import command_settings as load

db_app = typer.Typer(
    help="The database: status, migrations, copying a whole store between SQLite and PostgreSQL.",
    no_args_is_help=True, rich_markup_mode=None,
)


@db_app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Show which database NEWSLETTER_DATABASE is, its migrations (applied and pending) and rows per table."""
    from newsletter.store.admin import status as database_status

    config = load()
    result = database_status(config.newsletter_database, timeout=config.newsletter_database_timeout)
    if as_json:
        echo_json(result.as_dict())
        return
    typer.echo(f"Database:   {result.database} ({result.server})")
    last = result.applied[-1] if result.applied else None
    typer.echo(f"Migrations: {len(result.applied)} applied" + (f", last {last[1]} at {last[2]}" if last else ""))
    for _, name in result.pending:
        typer.echo(f"Pending:    {name} (applied by the next command, or `newsletter db migrate`)")
    for table, count in sorted(result.rows.items()):
        typer.echo(f"  {table:<20} {count:>12,}")


@db_app.command("migrate")
def migrate() -> None:
    """Apply the migrations NEWSLETTER_DATABASE lacks (every command does this by itself; this does only that)."""
    from newsletter.store.admin import migrate_database

    config = load()
    name, applied = migrate_database(config.newsletter_database, timeout=config.newsletter_database_timeout)
    typer.echo(f"{name}: " + (f"applied {', '.join(applied)}" if applied else "up to date, nothing to apply"))


@db_app.command("copy")
def copy(
    source: str = typer.Argument(..., metavar="SOURCE", help="A SQLite file or postgresql:// URL to copy from."),
    target: str = typer.Argument(..., metavar="TARGET", help="An empty SQLite file or PostgreSQL database to copy into."),
) -> None:
    """Copy a whole store (subscribers, lists, consent, sends, the delivery ledger, events) into an empty database.

    Both are migrated first; the target must hold no rows. The copy is one
    transaction, committed only if every table's row count matches.
    """
    from newsletter.store.admin import copy as copy_store

    config = load()
    with ProgressReporter("Copying", "rows") as progress:
        result = copy_store(source, target, timeout=config.newsletter_database_timeout, progress=progress)
    typer.echo(f"Copied {sum(result.rows.values()):,} rows from {result.source} to {result.target}; counts match:")
    for table, count in result.rows.items():
        typer.echo(f"  {table:<20} {count:>12,}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(db_app, name="db")
