"""What people expect of a CLI: --version, completion, choices, plain output, JSON, NEWSLETTER_DEBUG."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from importlib.metadata import version
from typing import get_args

import pytest

from newsletter.cli.subscribers import SubscriberStatus
from newsletter.settings import load_settings
from newsletter.store.subscribers import LISTED_STATUSES as STATUSES

#: SGR parameters that set a colour (foreground, background, 256/true colour).
COLOUR_CODE = re.compile(r"\x1b\[(?:\d+;)*(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;\d+)*m")


def test_version_is_the_installed_version(run_cli):
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout == f"newsletter {version('markdown-newsletter')}\n"  # the distribution's name


def test_completion_offers_the_choices_of_an_option(run_cli):
    result = run_cli(env={"_NEWSLETTER_COMPLETE": "complete_bash", "COMP_WORDS": "newsletter subscribers list --status ",
                          "COMP_CWORD": "4"})
    assert result.returncode == 0 and result.stdout.split() == list(STATUSES)


def test_completion_offers_commands_and_can_be_installed(run_cli):
    result = run_cli(env={"_NEWSLETTER_COMPLETE": "complete_bash", "COMP_WORDS": "newsletter sub", "COMP_CWORD": "1"})
    assert result.stdout.split() == ["subscribers"]
    script = run_cli("--show-completion", "bash")
    assert script.returncode == 0 and "_NEWSLETTER_COMPLETE=complete_bash" in script.stdout


def test_help_lists_the_choices(run_cli):
    assert get_args(SubscriberStatus) == STATUSES  # the CLI's choices are the store's statuses
    assert f"<{'|'.join(STATUSES)}>" in run_cli("subscribers", "list", "--help").stdout


@pytest.fixture
def three_subscribers(run_cli):
    for email, name in [("ann@example.org", "Ann"), ("bob@example.org", "Bob"), ("cy@example.org", "Cy Ö")]:
        assert run_cli("subscribers", "add", email, "--list", "news", "--name", name).returncode == 0
    assert run_cli("subscribers", "unsubscribe", "bob@example.org").returncode == 0


def test_list_json_is_one_array(run_cli, three_subscribers):
    result = run_cli("subscribers", "list", "--json")
    rows = json.loads(result.stdout)
    assert [row["email"] for row in rows] == ["ann@example.org", "bob@example.org", "cy@example.org"]
    assert rows[2]["name"] == "Cy Ö" and rows[1]["status"] == "unsubscribed"
    active = json.loads(run_cli("subscribers", "list", "--status", "active", "--json").stdout)
    assert [row["email"] for row in active] == ["ann@example.org", "cy@example.org"]


def test_list_json_when_nothing_matches_is_an_empty_array(run_cli, three_subscribers):
    assert json.loads(run_cli("subscribers", "list", "--status", "bounced", "--json").stdout) == []


def test_list_jsonl_is_one_object_per_line(run_cli, three_subscribers):
    lines = run_cli("subscribers", "list", "--jsonl").stdout.splitlines()
    assert [json.loads(line)["email"] for line in lines] == ["ann@example.org", "bob@example.org", "cy@example.org"]


def test_lists_json(run_cli, three_subscribers):
    (news,) = json.loads(run_cli("lists", "--json").stdout)
    assert (news["name"], news["members"], news["active"]) == ("news", 3, 2)


def _on_a_terminal(tmp_path, args: list[str], env: dict[str, str]) -> str:
    """Run ``newsletter ARGS`` with a pseudo-terminal as stdout and stderr; return what it printed."""
    environ = {**os.environ, "NEWSLETTER_DATABASE": str(tmp_path / "tty.db"), "COLUMNS": "120", **env}
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "newsletter", *args], stdout=terminal, stderr=terminal,
                               env=environ, cwd=tmp_path)
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    assert process.wait(timeout=60) == 0, b"".join(chunks)
    return b"".join(chunks).decode()


def test_a_terminal_gets_colour_unless_no_color(tmp_path):
    people = tmp_path / "people.csv"
    people.write_text("email\n" + "".join(f"p{i}@example.org\n" for i in range(20)))
    coloured = _on_a_terminal(tmp_path, ["subscribers", "import", str(people), "--list", "a"], {})
    assert "Importing" in coloured and "20/20" in coloured and COLOUR_CODE.search(coloured)
    plain = _on_a_terminal(tmp_path, ["subscribers", "import", str(people), "--list", "b"], {"NO_COLOR": "1"})
    assert "Importing" in plain and "20/20" in plain and not COLOUR_CODE.search(plain)


def test_a_pipe_gets_plain_text(run_cli, tmp_path):
    from tests.tracking import seeding

    seeding.seed(tmp_path / "cli.db")
    result = run_cli("stats", env={"FORCE_COLOR": ""})
    assert result.returncode == 0 and "Recipients" in result.stdout and "\x1b" not in result.stdout


def test_newsletter_debug_is_a_setting():
    assert load_settings({}).newsletter_debug is False
    assert load_settings({"NEWSLETTER_DEBUG": "on"}).newsletter_debug is True


def test_a_closed_pipe_is_not_a_bug(run_cli, tmp_path):
    people = tmp_path / "people.csv"
    people.write_text("email\n" + "".join(f"person{i}@example.org\n" for i in range(2000)))  # > a pipe's buffer
    assert run_cli("subscribers", "import", str(people), "--list", "news").returncode == 0
    reader = subprocess.Popen([sys.executable, "-m", "newsletter", "subscribers", "list", "--jsonl"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                              env={**os.environ, "NEWSLETTER_DATABASE": str(tmp_path / "cli.db")})
    assert json.loads(reader.stdout.readline())["email"] == "person0@example.org"
    reader.stdout.close()  # like `| head -1`
    assert reader.wait(timeout=60) == 1
    assert reader.stderr.read() == b""
