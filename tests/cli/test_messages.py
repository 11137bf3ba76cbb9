"""Messages a new team reads on its first day (issue 19, point 7): said once, on the right line, in plain
words, with usage lines that name their arguments."""

from __future__ import annotations

import io

import pytest
from typer.testing import CliRunner

from newsletter.cli import COMMANDS, app
from newsletter.cli.common import working
from newsletter.compose.model import Finding
from tests.delivery.fakes import settings_env


@pytest.fixture
def env(settings):
    return settings_env(settings)


def invoke(env, *args):
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def test_a_finding_without_its_severity_says_its_place_once():
    finding = Finding("relative-url", "error", "relative URL '/x' with no base", "issues/a.md:7")
    assert str(finding) == "issues/a.md:7: error: relative URL '/x' with no base [relative-url]"
    assert finding.without_severity() == "issues/a.md:7: relative URL '/x' with no base [relative-url]"
    assert finding.without_severity("issues/a.md") == "line 7: relative URL '/x' with no base [relative-url]"
    whole = Finding("html-too-large", "error", "HTML is 196 KB", "issues/a.md")
    assert whole.without_severity("issues/a.md") == "HTML is 196 KB [html-too-large]"


def test_send_warnings_and_refusals_do_not_repeat_themselves(env, write_issue):
    assert invoke(env, "subscribers", "add", "ann@example.org", "--list", "news").exit_code == 0
    # No preheader and no prose to take one from (only an image): a warning.
    plain = write_issue("![A harbour](https://example.org/harbour.jpg)\n", 'title: "Hi"', name="plain.md")
    run = invoke(env, "send", plain, "--list", "news", "--dry-run")
    assert run.exit_code == 0, run.output
    [line] = [line for line in run.stderr.splitlines() if "no preheader" in line]
    assert line.startswith(f"warning: {plain}: no preheader") and line.count("warning:") == 1
    broken = write_issue("Hello.\n\nSee [the page](/relative).\n", 'title: "Hi"\npreheader: p', name="broken.md")
    run = invoke(env, "send", broken, "--list", "news", "--yes")
    assert run.exit_code == 2
    [line] = run.stderr.splitlines()
    assert line.startswith(f"Error: {broken}: not sending: line 7: ") and line.count(str(broken)) == 1
    assert "error:" not in line.split("not sending", 1)[1] and line.endswith("[relative-url]")


@pytest.mark.parametrize(("frontmatter", "line", "words"), [
    ('title: Hi\nsubject:"Big"\npreheader: x', 3, "not `key: value`"),
    ('title: Hi\nsubject "Big"\npreheader: x', 3, "not `key: value`"),
    ('title: Hi\nsubject: "Big news\npreheader: x', 3, "a quote that is never closed"),
    ('title: "Hi"\nsubject: "Big" news\npreheader: x', 3, "put the whole value in quotes"),
    ('title: Hi\nsubject: News: more', 3, "a ': ' inside a value"),
    ('title: Hi\nseo:\n  url: https://example.org\n description: y', 5, "indented differently"),
])
def test_a_yaml_mistake_is_named_on_its_line_in_plain_words(env, tmp_path, frontmatter, line, words):
    path = tmp_path / "issue.md"
    path.write_text(f"---\n{frontmatter}\n---\nBody\n", encoding="utf-8")
    run = invoke(env, "check", path)
    assert run.exit_code == 2
    assert run.stderr.startswith(f"Error: {path}:{line}: malformed YAML frontmatter: ") and words in run.stderr
    assert "<block end>" not in run.stderr and "<scalar>" not in run.stderr


def test_usage_lines_name_arguments_in_capitals(env):
    seen = 0
    for name in COMMANDS:
        run = invoke(env, *name.split(), "--help")
        assert run.exit_code == 0, (name, run.output)
        usage = run.stdout.splitlines()[0]
        assert "{" not in usage and "}" not in usage, usage
        seen += usage.endswith(("ISSUE", "[SEND_ID]", "SEND", "[DIR]"))
    assert seen >= 8
    assert invoke(env, "check", "--help").stdout.startswith("Usage: newsletter check [OPTIONS] ISSUE\n")
    assert "{file}" not in invoke(env, "subscribers", "import", "--help").stdout


def test_slow_work_says_so_on_a_terminal_and_keeps_scripts_output_clean():
    out = io.StringIO()
    with working("Scoring the message with SpamAssassin", stream=out, terminal=False):
        pass
    assert out.getvalue() == ""  # a script reads only the command's output, or its one error line
    shown = io.StringIO()
    with working("Taking screenshots in Chromium", stream=shown, terminal=True):
        pass
    assert "Taking screenshots in Chromium" in shown.getvalue()  # a spinner, taken down when done
