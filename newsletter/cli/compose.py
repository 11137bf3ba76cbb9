"""``newsletter compose`` and ``newsletter check``."""

from __future__ import annotations

from pathlib import Path

import typer

from newsletter.cli.common import echo_findings, settings

ISSUE_ARG = typer.Argument(..., help="The issue file (Markdown with YAML frontmatter).", show_default=False)


def compose(
    issue: Path = ISSUE_ARG,
    out: Path = typer.Option(None, "--out", "-o", help="Output folder [default: NEWSLETTER_BUILD_DIR or build/]."),
) -> None:
    """Compose an issue into OUT/<slug>/email.html, email.txt and meta.json."""
    from newsletter.compose import compose_issue, write_output

    config = settings()
    result = compose_issue(issue, config)
    target = write_output(result, out or config.newsletter_build_dir)
    sizes = f"{len(result.html.encode()) / 1024:.1f} KB HTML, {len(result.text.encode()) / 1024:.1f} KB text"
    typer.echo(f"Composed {result.issue.subject!r} -> {target}/ ({sizes}, {len(result.web_links)} links)")
    echo_findings(result.findings)
    if result.errors:
        typer.echo(f"{len(result.errors)} error(s): fix them before sending.", err=True)
        raise typer.Exit(1)


def check(
    issue: Path = ISSUE_ARG,
    strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors (exit 1)."),
) -> None:
    """Run the checks on an issue. Exit 0 clean, 1 on errors (or warnings with --strict)."""
    from newsletter.compose import compose_issue

    result = compose_issue(issue, settings())
    echo_findings(result.findings)
    failed = bool(result.errors) or (strict and bool(result.warnings))
    typer.echo(f"{len(result.errors)} error(s), {len(result.warnings)} warning(s).", err=failed)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add compose and check to the root app."""
    app.command()(compose)
    app.command()(check)
