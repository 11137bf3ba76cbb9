"""Fixtures shared by every test package.

Every test runs with a clean configuration: no NEWSLETTER_*/SMTP_*/SENDGRID_*
variables from the developer's shell and no ./.env, so results do not depend
on the machine.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from newsletter.settings import Settings, load_settings, setting_names

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_ISSUE = ROOT / "issues" / "2026-11-example.md"
TEST_SECRET_KEY = "test-secret-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def clean_settings_env(monkeypatch, tmp_path_factory):
    """Remove every setting from the environment and point .env at nothing."""
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NEWSLETTER_ENV_FILE", str(tmp_path_factory.getbasetemp() / "no-such.env"))


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Default settings with a test signing key and paths inside tmp_path."""
    return load_settings({}).with_overrides(
        newsletter_secret_key=TEST_SECRET_KEY,
        newsletter_database=str(tmp_path / "newsletter.db"),
        newsletter_outbox=str(tmp_path / "outbox"),
        newsletter_build_dir=str(tmp_path / "build"),
    )


@pytest.fixture
def example_issue() -> Path:
    """The project's example issue (same shape as the team's real issues)."""
    return EXAMPLE_ISSUE


@pytest.fixture
def write_issue(tmp_path):
    """Write an issue file from frontmatter and body text; returns its path."""

    def write(body: str, frontmatter: str | None = 'title: "Test issue"\nseo:\n  url: https://news.example.org/blog/test\n  description: A test preheader', name: str = "test-issue.md") -> Path:
        path = tmp_path / name
        head = f"---\n{textwrap.dedent(frontmatter).strip()}\n---\n" if frontmatter is not None else ""
        path.write_text(head + textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
        return path

    return write
