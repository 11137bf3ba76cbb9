"""``newsletter archive build``: the web archive as static files."""

from __future__ import annotations

from pathlib import Path

import typer

from newsletter.cli.common import command_settings, echo_findings

archive_app = typer.Typer(
    help="The web archive of sent issues: indexes, a page per issue, Atom feeds, a sitemap.",
    no_args_is_help=True, rich_markup_mode=None,
)


@archive_app.command("build")
def build(
    out: Path | None = typer.Option(None, "--out", "-o",
                                    help="Output folder [default: NEWSLETTER_BUILD_DIR/archive, i.e. build/archive]."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 if any sent issue could not be archived."),
) -> None:
    """Write the archive of every sent issue as static files (the same bytes `serve` answers at /archive/).

    An issue is published only if composing its file now gives the HTML that was sent;
    otherwise it is left out with a warning.
    """
    from newsletter.archive import build_archive

    site, folder = build_archive(command_settings(), out)
    unlisted = f", {len(site.unlisted)} unlisted" if site.unlisted else ""
    typer.echo(f"Archive -> {folder}/ ({site.issues} issues{unlisted}, {site.lists} lists, {len(site.files)} files)")
    echo_findings(site.findings)
    if strict and site.findings:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``archive`` to the root app."""
    app.add_typer(archive_app, name="archive")
