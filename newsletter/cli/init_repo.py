"""``newsletter init``: start a newsletter repository."""

from __future__ import annotations

from pathlib import Path

import typer

from newsletter.cli.common import command_settings


def init(
    directory: Path = typer.Argument(Path("."), metavar="DIR", help="Folder for the repository (created if missing)."),
) -> None:
    """Create a newsletter repository: a first issue, a layout to customise, settings, CI. Never overwrites."""
    from newsletter.review.new_repository import init_repository

    repo = init_repository(directory, site_url=command_settings().newsletter_site_url)
    for path in repo.files:
        typer.echo(f"Wrote {repo.root / path}")
    for warning in repo.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(
        f"\nNext: cd {repo.root}, copy .env.example to .env and fill it in, edit {repo.first_issue},\n"
        f"then `newsletter preview {repo.first_issue}` and `newsletter check --strict {repo.first_issue}`."
    )


def register(app: typer.Typer) -> None:
    """Add init to the root app."""
    app.command()(init)
