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
    spam: bool = typer.Option(False, "--spam", help="Also score the real message with a local SpamAssassin (spamassassin -L)."),
    fmt: str = typer.Option("text", "--format", help="Output: text (stderr), json, junit or sarif (stdout).", metavar="FORMAT"),
) -> None:
    """Run the checks on an issue. Exit 0 clean, 1 on errors (or warnings with --strict)."""
    from newsletter.compose.report import FORMATS, failed, render
    from newsletter.errors import InputError
    from newsletter.review.check import run_check

    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}", subject="--format")
    outcome = run_check(issue, settings(), spam=spam)
    bad = failed(outcome.findings, strict)
    if fmt != "text":
        typer.echo(render(fmt, outcome.result, outcome.findings, strict=strict, spam=outcome.spam), nl=False)
    else:
        echo_findings(outcome.findings)
        if outcome.spam is not None:
            rules = " ".join(f"{r.name}({r.points:+.1f})" for r in outcome.spam.rules) or "none"
            typer.echo(f"SpamAssassin {outcome.spam.version}: score {outcome.spam.score:.1f} of {outcome.spam.required:.1f}; rules: {rules}")
        errors = sum(f.severity == "error" for f in outcome.findings)
        typer.echo(f"{errors} error(s), {len(outcome.findings) - errors} warning(s).", err=bad)
    if bad:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add compose and check to the root app."""
    app.command()(compose)
    app.command()(check)
