"""``newsletter init``: the repository it writes, its refusal to overwrite, and its CI steps run for real."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from newsletter import __version__
from newsletter.compose import compose_issue
from newsletter.compose.layout import BUILTIN_LAYOUTS
from newsletter.errors import InputError
from newsletter.review.new_repository import WORKFLOW, Requirement, init_repository, requirement_for
from newsletter.review.screenshots import chromium_path
from newsletter.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
DAY = dt.date(2026, 12, 1)
CLEAN_ISSUE = """---
title: "December news"
seo:
  url: https://news.harbour.test/blog/december
  description: What happened in December.
---
# Harbour

Read [the release notes](https://news.harbour.test/releases/4-3).
"""


@pytest.fixture
def team(tmp_path) -> Path:
    init_repository(tmp_path / "team", today=DAY)
    return tmp_path / "team"


def test_writes_a_repository(team):
    files = {str(p.relative_to(team)) for p in team.rglob("*") if p.is_file()}
    assert files == {
        "issues/2026-12-01-our-first-issue.md", "layouts/README.md", "layouts/default/email.mjml.j2",
        "layouts/default/email.txt.j2", "layouts/default/client-support.txt", "layouts/default/confirm.mjml.j2",
        "layouts/default/confirm.txt.j2", ".env.example", ".gitignore", str(WORKFLOW), "requirements.txt",
    }
    for name in ("email.mjml.j2", "email.txt.j2", "client-support.txt", "confirm.mjml.j2", "confirm.txt.j2"):
        assert (team / "layouts/default" / name).read_text() == (BUILTIN_LAYOUTS / "default" / name).read_text()
    assert (team / ".env.example").read_text() == (ROOT / ".env.example").read_text()
    ignored = (team / ".gitignore").read_text().splitlines()
    assert {".env", "*.db", "build/", "outbox/", "screenshots/"} <= set(ignored)
    assert (team / "requirements.txt").read_text().splitlines()[-1] == f"markdown-newsletter[screenshots]=={__version__}"


# --- requirements.txt: what CI installs ----------------------------------------------------


def test_ci_installs_the_tool_from_the_git_url_it_was_installed_from():
    installed = {"url": "https://git.example.org/comms/newsletter.git",
                 "vcs_info": {"vcs": "git", "commit_id": "3f2a" * 10, "requested_revision": "main"}}
    found = requirement_for(installed)
    assert found.reachable
    assert found.line == f"markdown-newsletter[screenshots] @ git+https://git.example.org/comms/newsletter.git@{'3f2a' * 10}"
    wheel = {"url": "https://files.example.org/markdown_newsletter-0.1.0-py3-none-any.whl", "archive_info": {}}
    assert requirement_for(wheel).line == f"markdown-newsletter[screenshots] @ {wheel['url']}"


def test_a_local_install_is_pinned_and_flagged_because_ci_cannot_reach_it(monkeypatch):
    for local in ({"url": "file:///home/me/dist/markdown_newsletter-0.1.0-py3-none-any.whl", "archive_info": {}},
                  {"url": "file:///home/me/newsletter", "dir_info": {"editable": True}},
                  {"url": "file:///srv/git/newsletter", "vcs_info": {"vcs": "git", "commit_id": "ab" * 20}}):
        found = requirement_for(local)
        assert not found.reachable and found.line == f"markdown-newsletter[screenshots]=={__version__}"
        assert found.source == local["url"]
    assert not requirement_for(None).reachable  # by name: not on the package index yet
    monkeypatch.setattr(sys.modules[requirement_for.__module__], "PUBLISHED", True)  # wherever the module lives
    assert requirement_for(None) == Requirement(f"markdown-newsletter[screenshots]=={__version__}", True, "the package index")


def test_init_says_when_ci_cannot_install_the_tool(tmp_path):
    repo = init_repository(tmp_path / "team", today=DAY)  # this test run: an editable install from a checkout
    (warning,) = repo.warnings
    assert warning.startswith(f"{tmp_path / 'team' / 'requirements.txt'}: markdown-newsletter was installed here from ")
    assert warning.endswith("which CI cannot reach; put your team's git URL for it in that file (see the comment there)")
    text = (tmp_path / "team/requirements.txt").read_text()
    assert "# replace the line below with your team's git URL" in text


def test_the_first_issue_composes_with_the_teams_layout(team):
    layout = team / "layouts/default/email.mjml.j2"
    layout.write_text(layout.read_text().replace("Manage your subscription", "Your settings"))
    config = load_settings({}).with_overrides(newsletter_layouts=str(team / "layouts"))
    result = compose_issue(team / "issues/2026-12-01-our-first-issue.md", config)
    assert not result.errors and "Your settings" in result.html


def test_refuses_to_overwrite_and_writes_nothing(tmp_path):
    (tmp_path / ".gitignore").write_text("mine\n")
    with pytest.raises(InputError, match=r"already has \.gitignore; not overwriting"):
        init_repository(tmp_path, today=DAY)
    assert [p.name for p in tmp_path.iterdir()] == [".gitignore"]
    assert (tmp_path / ".gitignore").read_text() == "mine\n"


def test_fits_into_an_existing_folder(tmp_path):
    (tmp_path / "README.md").write_text("Our newsletter\n")
    repo = init_repository(tmp_path, today=DAY)
    assert repo.first_issue == Path("issues/2026-12-01-our-first-issue.md")
    assert (tmp_path / "README.md").read_text() == "Our newsletter\n"


def test_a_file_is_not_a_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        init_repository(tmp_path / "file")


# --- the CI workflow ---------------------------------------------------------------


def workflow_steps(team: Path) -> dict[str, dict]:
    workflow = yaml.safe_load((team / WORKFLOW).read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"pull_request", "push"} <= set(triggers)
    (job,) = workflow["jobs"].values()
    return {step.get("name") or step["uses"].split("@")[0]: step for step in job["steps"]}


def git(team: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.org"}
    return subprocess.run(["git", *args], cwd=team, env=env, check=True, capture_output=True, text=True).stdout.strip()


def run_step(team: Path, step: dict, base: str, home: Path) -> subprocess.CompletedProcess:
    """Run a workflow step's shell lines as the CI would, with this environment's ``newsletter``."""
    env = {**os.environ, "BASE": base, "NEWSLETTER_ENV_FILE": os.devnull, "HOME": str(home),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", "-e", "-c", step["run"]], cwd=team, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def team_repo(team) -> tuple[Path, str]:
    """The new repository committed to git; returns it and the first commit."""
    git(team, "init", "-q", "-b", "main")
    git(team, "add", "-A")
    git(team, "commit", "-q", "-m", "init")
    return team, git(team, "rev-parse", "HEAD")


def test_ci_checks_only_the_changed_issues(team_repo, tmp_path):
    team, base = team_repo
    steps = workflow_steps(team)
    assert "newsletter check --strict" in steps["Check changed issues"]["run"]
    artifact = steps["actions/upload-artifact"]
    assert artifact["with"]["path"] == "screenshots/" and artifact["if"] == "always()"

    (team / "issues/2026-12-08-december.md").write_text(CLEAN_ISSUE)
    git(team, "add", "-A")
    git(team, "commit", "-q", "-m", "December")
    listed = run_step(team, steps["List changed issues"], base, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert (team / "changed-issues.txt").read_text().split() == ["issues/2026-12-08-december.md"]
    checked = run_step(team, steps["Check changed issues"], base, tmp_path)
    assert checked.returncode == 0, checked.stderr + checked.stdout

    (team / "issues/2026-12-08-december.md").write_text(CLEAN_ISSUE.replace("https://news", "http://news"))
    git(team, "commit", "-q", "-am", "insecure link")
    run_step(team, steps["List changed issues"], base, tmp_path)
    checked = run_step(team, steps["Check changed issues"], base, tmp_path)
    assert checked.returncode == 1 and "[insecure-link]" in checked.stderr


def test_a_fresh_repository_passes_its_own_ci(team_repo, tmp_path):
    """The workflow's steps on the repository exactly as init wrote it: the starter issue passes check --strict."""
    team, first = team_repo
    steps = workflow_steps(team)
    for base in ("", first + "~1"):  # the first push has no commit before it: every issue
        listed = run_step(team, steps["List changed issues"], base, tmp_path)
        assert listed.returncode == 0, listed.stderr
        assert (team / "changed-issues.txt").read_text().split() == ["issues/2026-12-01-our-first-issue.md"]
        checked = run_step(team, steps["Check changed issues"], base, tmp_path)
        assert checked.returncode == 0, checked.stderr + checked.stdout
        assert "0 error(s), 0 warning(s)" in checked.stderr + checked.stdout


def test_the_starter_issue_keeps_its_example_links_for_later(team):
    text = (team / "issues/2026-12-01-our-first-issue.md").read_text()
    assert "<!-- Links and a button" in text and "[READ MORE >>](https://example.org/blog/our-first-issue/)" in text
    config = load_settings({}).with_overrides(newsletter_layouts=str(team / "layouts"))
    result = compose_issue(team / "issues/2026-12-01-our-first-issue.md", config)
    assert result.findings == [] and "example.org" not in result.html + result.text
    # With the team's site known, the links are real ones and stay in the issue.
    init_repository(team.parent / "known", today=DAY, site_url="https://news.harbour.test")
    known = compose_issue(team.parent / "known/issues/2026-12-01-our-first-issue.md", config)
    assert known.findings == [] and "https://news.harbour.test/events/" in known.html


def test_ci_checks_every_issue_without_a_base_or_after_a_layout_change(team_repo, tmp_path):
    team, base = team_repo
    steps = workflow_steps(team)
    (team / "issues/2026-12-08-december.md").write_text(CLEAN_ISSUE)
    expected = ["issues/2026-12-01-our-first-issue.md", "issues/2026-12-08-december.md"]
    run_step(team, steps["List changed issues"], "", tmp_path)
    assert (team / "changed-issues.txt").read_text().split() == expected
    layout = team / "layouts/default/email.txt.j2"
    layout.write_text(layout.read_text() + "\n")
    git(team, "add", "-A")
    git(team, "commit", "-q", "-m", "layout")
    run_step(team, steps["List changed issues"], base, tmp_path)
    assert (team / "changed-issues.txt").read_text().split() == expected


@pytest.mark.browser
def test_ci_screenshots_the_changed_issues(team_repo, tmp_path):
    if chromium_path() is None:
        pytest.skip("needs the system Chromium (Debian package 'chromium')")
    team, base = team_repo
    steps = workflow_steps(team)
    (team / "issues/2026-12-08-december.md").write_text(CLEAN_ISSUE)
    git(team, "add", "-A")
    git(team, "commit", "-q", "-m", "December")
    run_step(team, steps["List changed issues"], base, tmp_path)
    shot = run_step(team, steps["Screenshot changed issues"], base, tmp_path)
    assert shot.returncode == 0, shot.stderr
    assert sorted(p.name for p in (team / "screenshots").iterdir()) == [
        f"2026-12-08-december-{width}-{mode}.png" for width in (375, 600) for mode in ("dark", "light")
    ]
