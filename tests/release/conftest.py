"""Fixtures for release tests: a clock the test moves, subscribers with attributes, the CLI, SSH keys."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.delivery.fakes import settings_env
from tests.release.helpers import ISSUE_BODY, ISSUE_FRONTMATTER, Clock, add_people


@pytest.fixture
def clock() -> Clock:
    """Starts at 2026-11-30 12:00 UTC."""
    return Clock(datetime(2026, 11, 30, 12, 0, tzinfo=UTC))


@pytest.fixture
def repo(tmp_path, monkeypatch, settings):
    """A repository for the sequence tests: the current folder (relative issue paths start there), list 'news'
    and the sequence file (``tests.release.sequence_helpers.repository``)."""
    from newsletter.audience.lists import create_list
    from tests.release.sequence_helpers import repository

    monkeypatch.chdir(tmp_path)
    create_list("news", settings)
    return repository(tmp_path)


@pytest.fixture
def issue(tmp_path) -> Path:
    """An issue in its own folder (its approvals file goes beside it)."""
    folder = tmp_path / "issues"
    folder.mkdir()
    path = folder / "2026-12-harbour.md"
    path.write_text(f"---\n{ISSUE_FRONTMATTER.strip()}\n---\n{ISSUE_BODY.lstrip()}", encoding="utf-8")
    return path


@pytest.fixture
def people(settings):
    """``people(n, list_name="news", start=1, **attributes)``: n subscribers p<i>@example.org on the list."""

    def make(n: int, list_name: str = "news", start: int = 1, **attributes: str) -> list[str]:
        emails = {f"p{i}@example.org": dict(attributes) for i in range(start, start + n)}
        add_people(settings.newsletter_database, list_name, emails)
        return list(emails)

    return make


@pytest.fixture
def cli():
    """``cli(config, *args)``: the real CLI in-process with ``config`` as its whole environment."""
    from typer.testing import CliRunner

    from newsletter.cli import app

    def run(config, *args: object, input: str | None = None):
        return CliRunner().invoke(app, [str(a) for a in args], env=settings_env(config), input=input)

    return run


@pytest.fixture
def ssh_keys(tmp_path):
    """Two fresh ed25519 keys (ann, bob) and an allowed-signers file listing ann's key only."""
    keys = {}
    for who in ("ann", "bob"):
        path = tmp_path / "keys" / who
        path.parent.mkdir(exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f", str(path)], check=True)
        keys[who] = path
    allowed = tmp_path / "keys" / "allowed_signers"
    allowed.write_text(f"ann@example.org {(tmp_path / 'keys' / 'ann.pub').read_text()}")
    keys["allowed"] = allowed
    return keys
