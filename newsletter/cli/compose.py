"""``newsletter compose`` and ``newsletter check``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from newsletter.cli.common import command_settings, echo_findings, working

if TYPE_CHECKING:
    from newsletter.compose.model import ComposeResult

ISSUE_ARG = typer.Argument(..., help="The issue file (Markdown with YAML frontmatter).", show_default=False)
LIST_OPT = typer.Option(None, "--list", help="Include this list in the build id (as `send --list` would).")
SEGMENT_OPT = typer.Option(None, "--segment", help="And this saved segment of the list.")
WHERE_OPT = typer.Option(None, "--where", help="And these conditions, KEY=VALUE or KEY!=VALUE (repeatable).")


def _echo_build(result: ComposeResult, list_name: str | None, segment: str | None, where: list[str] | None) -> None:
    """Print the build id: the content alone, or with the audience of --list/--segment/--where."""
    from newsletter.compose.build import build_of
    from newsletter.errors import InputError

    if (segment or where) and not list_name:
        raise InputError("--segment and --where need --list", subject="--list")
    build = build_of(result, command_settings(), list_name, where or (), segment)
    audience = build.audience.describe() if list_name else "content only: add --list for the audience"
    typer.echo(f"Build {build.short} ({audience})")


def compose(
    issue: Path = ISSUE_ARG,
    out: Path | None = typer.Option(None, "--out", "-o", help="Output folder [default: NEWSLETTER_BUILD_DIR or build/]."),
    list_name: str | None = LIST_OPT,
    segment: str | None = SEGMENT_OPT,
    where: list[str] | None = WHERE_OPT,
) -> None:
    """Compose an issue into OUT/<slug>/email.html, email.txt and meta.json."""
    from newsletter.compose import compose_issue, write_output

    config = command_settings()
    result = compose_issue(issue, config)
    target = write_output(result, out or config.newsletter_build_dir)
    sizes = f"{len(result.html.encode()) / 1024:.1f} KB HTML, {len(result.text.encode()) / 1024:.1f} KB text"
    typer.echo(f"Composed {result.issue.subject!r} -> {target}/ ({sizes}, {len(result.web_links)} links)")
    _echo_build(result, list_name, segment, where)
    echo_findings(result.findings)
    if result.errors:
        typer.echo(f"{len(result.errors)} error(s): fix them before sending.", err=True)
        raise typer.Exit(1)


def check(
    issue: Path = ISSUE_ARG,
    strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors (exit 1)."),
    spam: bool = typer.Option(False, "--spam", help="Also score the real message with a local SpamAssassin (spamassassin -L)."),
    dns: bool = typer.Option(False, "--dns", help="Also look up the sending domain's SPF, DKIM key, DMARC and bounce MX "
                             "(NEWSLETTER_DNS_RESOLVER or the system's resolver)."),
    fmt: str = typer.Option("text", "--format", help="Output: text (stderr), json, junit or sarif (stdout).", metavar="FORMAT"),
    list_name: str | None = LIST_OPT,
    segment: str | None = SEGMENT_OPT,
    where: list[str] | None = WHERE_OPT,
) -> None:
    """Run the checks on an issue and print its build id. Exit 0 clean, 1 on errors (or warnings with --strict)."""
    from newsletter.compose.report import FORMATS, failed, render
    from newsletter.errors import InputError
    from newsletter.review.check import run_check

    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}", subject="--format")
    if spam:  # SpamAssassin takes up to several seconds
        with working("Scoring the message with SpamAssassin"):
            outcome = run_check(issue, command_settings(), spam=spam, dns=dns)
    else:
        outcome = run_check(issue, command_settings(), spam=spam, dns=dns)
    bad = failed(outcome.findings, strict)
    if fmt != "text":
        typer.echo(render(fmt, outcome.result, outcome.findings, strict=strict, spam=outcome.spam), nl=False)
    else:
        _echo_build(outcome.result, list_name, segment, where)
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
