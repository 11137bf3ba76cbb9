"""Small helpers shared by the CLI command modules (settings, output)."""

from __future__ import annotations

from typing import Any

import typer

from newsletter.settings import Settings, load_settings


def settings(**overrides: Any) -> Settings:
    """Settings from env and .env, with the command's explicit options on top."""
    return load_settings().with_overrides(**overrides)


def echo_findings(findings) -> None:
    """Print check findings (warnings and errors), one line each, to stderr."""
    for finding in findings:
        typer.echo(str(finding), err=True)
