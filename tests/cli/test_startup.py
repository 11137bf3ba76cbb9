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


def _modules_loaded_by(*argv: str) -> tuple[set[str], str]:
    """The modules a ``newsletter ARGV`` process had loaded when it ended, and what it printed."""
    probe = (
        "import sys, io, contextlib, json\n"
        f"sys.argv = ['newsletter', *{list(argv)!r}]\n"
        "from newsletter.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n        main()\n    except SystemExit:\n        pass\n"
        "print(json.dumps([sorted(sys.modules), out.getvalue()]))\n"
    )
    loaded, printed = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                                check=True).stdout)
    return set(loaded), printed


HEAVY = {"pydantic", "rich", "jinja2", "markdown_it", "mjml", "premailer", "sqlite3", "email_validator", "orjson",
         "starlette", "uvicorn", "sendgrid", "yaml", "newsletter.settings", "newsletter.compose"}


def test_help_loads_no_library_it_does_not_show():
    """`newsletter --help` stays fast: no validation, rendering, database or settings modules, no command module."""
    loaded, printed = _modules_loaded_by("--help")
    assert "Commands:" in printed and "  send " in printed  # the probe did print the listing
    assert loaded & HEAVY == set()
    assert {m for m in loaded if m.startswith("newsletter.cli.")} == set()  # the listing comes from COMMANDS


def test_a_command_loads_only_its_own_module():
    loaded, printed = _modules_loaded_by("send", "--help")
    assert printed.startswith("Usage: newsletter send [OPTIONS]")
    assert loaded & HEAVY == set()
    commands = {m for m in loaded if m.startswith("newsletter.cli.") and m != "newsletter.cli.common"}
    assert commands == {"newsletter.cli.delivery"}
