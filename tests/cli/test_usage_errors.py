"""Usage errors are the user's, not bugs: usage line, the option as typed, exit 2.

Only a real bug is an "Internal error" (exit 70), with a traceback when
NEWSLETTER_DEBUG is on.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from newsletter.cli import EXIT_INTERNAL, app


@pytest.mark.parametrize(
    "args, usage, message",
    [
        (["sends", "--bogus"], "Usage: newsletter sends [OPTIONS]", "No such option: --bogus"),
        (["send", "x.md"], "Usage: newsletter send [OPTIONS]", "Missing option '--list'"),
        (["bogus"], "Usage: newsletter [OPTIONS] COMMAND [ARGS]...", "No such command 'bogus'"),
        (["serve", "--port", "99999"], "Usage: newsletter serve [OPTIONS]", "Invalid value for '--port'"),
        (["subscribers", "list", "--status", "gone"], "Usage: newsletter subscribers list", "Invalid value for '--status'"),
        (["compose"], "Usage: newsletter compose [OPTIONS] ISSUE", "Missing argument 'ISSUE'"),
        (["subscribers", "import", "people.csv"], "Usage: newsletter subscribers import", "Missing option '--list'"),
    ],
    ids=["unknown-option", "missing-option", "unknown-command", "bad-value", "bad-choice", "missing-argument",
         "missing-option-in-group"],
)
def test_usage_error_shows_usage_and_exits_2(run_cli, args, usage, message):
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(usage)
    assert f"Error: {message}" in result.stderr
    assert "Internal error" not in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_python_names_never_reach_the_user(run_cli):
    result = run_cli("send", "x.md")
    assert "list_name" not in result.stderr


def _crash(*args, **kwargs):
    raise RuntimeError("boom")


def test_a_bug_is_an_internal_error_exit_70(monkeypatch, example_issue):
    monkeypatch.setattr("newsletter.compose.compose_issue", _crash)
    result = CliRunner().invoke(app, ["check", str(example_issue)])
    assert result.exit_code == EXIT_INTERNAL
    assert "Internal error: RuntimeError: boom (set NEWSLETTER_DEBUG=1 for details)" in result.output


def test_newsletter_debug_shows_the_bug(monkeypatch, example_issue):
    monkeypatch.setattr("newsletter.compose.compose_issue", _crash)
    monkeypatch.setenv("NEWSLETTER_DEBUG", "1")
    result = CliRunner().invoke(app, ["check", str(example_issue)])
    assert result.exit_code == EXIT_INTERNAL  # the documented status, not Python's 1 for an uncaught exception
    assert "Traceback (most recent call last)" in result.output and "RuntimeError: boom" in result.output
    assert "Internal error" not in result.output
