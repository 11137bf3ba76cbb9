"""Sequence files checked in full when attached (``lists set``): one line naming the file, the step and the
problem, exit 2, nothing written; and the commands around sequences."""

from __future__ import annotations

import json

import pytest

from newsletter.durations import parse_duration
from tests.release.sequence_helpers import repository, write_issue


@pytest.fixture
def repo(tmp_path, monkeypatch, settings):
    from newsletter.audience.lists import create_list

    monkeypatch.chdir(tmp_path)
    create_list("news", settings)
    return repository(tmp_path)


def one_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.output, result.output
    return lines[0]


@pytest.mark.parametrize(("text", "expected"), [
    ("[[step]]\nissue = 'issues/onboarding-1.md'\nafter_joining = '1h'\ncolour = 'red'\n", "step 1: unknown key 'colour'"),
    ("[[step]]\nissue = 'issues/onboarding-1.md'\nafter_joining = 'soon'\n", "step 1: after_joining: 'soon' is not a duration"),
    ("[[step]]\nissue = 'issues/missing.md'\nafter_joining = '1h'\n", "step 1: issue file 'issues/missing.md' not found"),
    ("[[step]]\nissue = 'issues/onboarding-1.md'\n", "step 1: no delay"),
    ("[[step]]\nissue = 'issues/onboarding-1.md'\nafter_joining = '1h'\nafter_previous = '1d'\n",
     "step 1: give exactly one of after_joining and after_previous"),
    ("[[step]]\nissue = 'issues/onboarding-1.md'\nafter_previous = '1d'\n", "step 1: the first step has no previous step"),
    ("[[step]]\nissue = 'issues/onboarding-1.md'\nafter_joining = '1h'\n[[step]]\nissue = 'issues/onboarding-2.md'\n"
     "after_previous = '1d'\nwhere = ['plan']\n", "step 2: --where: 'plan' has no '='"),
    ("[[step]]\nissue = 'issues/onboarding-1.md'\nafter_joining = '1h'\n[[step]]\nissue = 'issues/onboarding-1.md'\n"
     "after_previous = '1d'\n", "step 2: issue 'onboarding-1' is step 1 already"),
    ("[[step]]\nissue = 'issues/broken.md'\nafter_joining = '1h'\n", "step 1: issue does not compose"),
    ("title = 'x'\n", "unknown key 'title'"),
    ("[[step]\n", "not valid TOML"),
    ("", "no steps"),
])
def test_a_bad_sequence_file_is_one_line_and_nothing_is_attached(repo, settings, cli, tmp_path, text, expected):
    (tmp_path / "issues" / "broken.md").write_text("---\ntitle: ''\n---\n", encoding="utf-8")  # no subject
    repo.write_text(text, encoding="utf-8")
    line = one_error(cli(settings, "lists", "set", "news", "--sequence", repo))
    assert f"{repo}: " in line and expected in line
    assert "No sequences yet" in cli(settings, "sequences").stdout


def test_usage_errors_of_lists_set_and_sequences(repo, settings, cli, tmp_path):
    assert "exactly one of" in one_error(cli(settings, "lists", "set", "news"))
    assert "exactly one of" in one_error(cli(settings, "lists", "set", "news", "--no-welcome", "--sequence", repo))
    assert "no such list" in one_error(cli(settings, "lists", "set", "nope", "--sequence", repo))
    assert "file not found" in one_error(cli(settings, "lists", "set", "news", "--welcome", tmp_path / "nope.md"))
    assert "no sequence 'welcome'" in one_error(cli(settings, "lists", "set", "news", "--no-welcome"))
    assert "no such sequence" in one_error(cli(settings, "sequences", "show", "onboarding"))
    assert "no such sequence" in one_error(cli(settings, "sequences", "restart", "onboarding", "a@example.org"))


def test_attach_show_and_list(repo, settings, cli, tmp_path):
    result = cli(settings, "lists", "set", "news", "--sequence", repo)
    assert result.exit_code == 0, result.output
    assert "Sequence 'onboarding' attached on list news (version 1): 2 steps" in result.stdout
    assert "onboarding-2.md 3d after the previous step where plan=pro" in result.stdout
    again = cli(settings, "lists", "set", "news", "--sequence", repo)
    assert "updated" in again.stdout and "version 1" in again.stdout  # same steps, same version
    write_issue(tmp_path, "welcome", "Welcome aboard")
    assert cli(settings, "lists", "set", "news", "--welcome", "issues/welcome.md").exit_code == 0
    listed = cli(settings, "sequences").stdout.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [["news", "onboarding"], ["news", "welcome"]]
    shown = json.loads(cli(settings, "sequences", "show", "onboarding", "--json").stdout)
    assert [s["delay"] for s in shown["steps"]] == ["1h after joining", "3d after the previous step"]
    assert cli(settings, "subscribers", "add", "ann@example.org", "--list", "news", "--welcome").exit_code == 0
    members = cli(settings, "sequences", "show", "welcome", "--members", "--jsonl").stdout.splitlines()
    assert [json.loads(m)["stands"] for m in members] == ["next step 1 of 1"]
    text = cli(settings, "sequences", "show", "onboarding").stdout
    assert "1 enrolled" in text and text.splitlines()[2].split("\t")[3] == "1"  # step 1: one waiting
    off = cli(settings, "lists", "set", "news", "--no-sequence", "onboarding")
    assert off.exit_code == 0 and [line.split("\t")[1] for line in cli(settings, "sequences").stdout.splitlines()] == [
        "welcome"]


@pytest.mark.parametrize(("text", "seconds"), [("0", 0), ("90s", 90), ("15m", 900), ("1h", 3600), ("3d", 259200),
                                               ("2w", 1209600), ("1d12h", 129600), ("1h 30m", 5400)])
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "soon", "3", "1x", "-1h", "1h soon"])
def test_bad_durations(text):
    from newsletter.errors import InputError

    with pytest.raises(InputError, match="not a duration"):
        parse_duration(text)


def test_import_with_welcome_says_how_many_it_enrolled_and_a_name_on_two_lists_needs_list(repo, settings, cli,
                                                                                         tmp_path):
    from newsletter.audience.lists import create_list

    write_issue(tmp_path, "welcome", "Welcome aboard")
    create_list("other", settings)
    for name in ("news", "other"):
        assert cli(settings, "lists", "set", name, "--welcome", "issues/welcome.md").exit_code == 0
    people = tmp_path / "people.csv"
    people.write_text("email\nann@example.org\nbob@example.org\n", encoding="utf-8")
    result = cli(settings, "subscribers", "import", people, "--list", "news", "--welcome")
    assert result.exit_code == 0 and "2 enrolled in welcome emails and sequences" in result.stdout
    assert "pass --list" in one_error(cli(settings, "sequences", "show", "welcome"))
    shown = json.loads(cli(settings, "sequences", "show", "welcome", "--list", "news", "--json").stdout)
    assert (shown["list"], shown["enrolled"], shown["steps"][0]["waiting"] + shown["steps"][0]["due"]) == ("news", 2, 2)
    restarted = cli(settings, "sequences", "restart", "welcome", "ann@example.org", "--list", "news")
    assert restarted.exit_code == 0 and "starts again for 1 subscriber" in restarted.stdout
    assert "no such subscriber" in one_error(cli(settings, "sequences", "restart", "welcome", "x@example.org",
                                                 "--list", "news"))
