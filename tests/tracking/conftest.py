"""Fixtures for the tracking tests: settings on a temporary database and a seeded send."""

from __future__ import annotations

import pytest

from newsletter.settings import Settings
from tests.tracking import seeding  # shared with tests/server
from tests.tracking.seeding import seed_send, status_of  # noqa: F401  (shared fixtures, registered by importing)

SECRET = seeding.SECRET


@pytest.fixture
def settings(database) -> Settings:
    """Settings on a fresh database (SQLite, then PostgreSQL)."""
    return Settings(newsletter_database=database, newsletter_secret_key=SECRET,
                    newsletter_public_url="https://news.example.org")


@pytest.fixture
def cli_env(settings) -> dict[str, str]:
    """Environment for CliRunner so the CLI uses ``settings``' database and no .env file."""
    return {"NEWSLETTER_DATABASE": settings.newsletter_database, "NEWSLETTER_SECRET_KEY": SECRET,
            "NEWSLETTER_ENV_FILE": "/dev/null"}



@pytest.fixture
def db(settings):
    """A connection to ``settings``' database (closed after the test)."""
    from newsletter.store import connect

    conn = connect(settings.newsletter_database)
    yield conn
    conn.close()
