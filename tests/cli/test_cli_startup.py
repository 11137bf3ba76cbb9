"""The command line's own behaviour: usage errors, and what `newsletter --help` loads."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from newsletter.cli import app


def test_a_usage_error_in_a_subcommand_is_exit_2_not_an_internal_error():
    result = CliRunner().invoke(app, ["compose", "--no-such-option"])
    assert result.exit_code == 2, result.output
    assert "No such option" in result.output and "Internal error" not in result.output


def test_help_loads_no_library_it_does_not_show():
    """`newsletter --help` stays fast: no validation, rendering, database or settings modules behind it."""
    probe = (
        "import sys, io, contextlib\n"
        "sys.argv = ['newsletter', '--help']\n"
        "from newsletter.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main()\n    except SystemExit:\n        pass\n"
        "print(__import__('json').dumps(sorted(sys.modules)))\n"
    )
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout))
    heavy = {"pydantic", "rich", "jinja2", "markdown_it", "mjml", "premailer", "sqlite3", "email_validator", "orjson",
             "starlette", "uvicorn", "sendgrid", "yaml", "newsletter.settings", "newsletter.compose"}
    assert loaded & heavy == set()
    assert "newsletter.cli.compose" in loaded  # the probe did run the command line
