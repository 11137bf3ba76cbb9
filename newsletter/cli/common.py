"""Small helpers shared by the CLI command modules (settings, output)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from newsletter.settings import Settings


def settings(**overrides: Any) -> Settings:
    """Settings from env and .env, with the command's explicit options on top."""
    from newsletter.settings import load_settings  # here, not above: `newsletter --help` needs no settings

    return load_settings().with_overrides(**overrides)


def echo_findings(findings) -> None:
    """Print check findings (warnings and errors), one line each, to stderr."""
    for finding in findings:
        typer.echo(str(finding), err=True)
