"""Fixtures for the tracking tests: settings on a temporary database and a seeded send."""

from __future__ import annotations


import pytest

from newsletter.settings import Settings


import seeding  # shared with tests/server (see pythonpath in pyproject.toml)

SECRET = seeding.SECRET


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Settings on a fresh database under ``tmp_path``."""
    return Settings(newsletter_database=str(tmp_path / "t.db"), newsletter_secret_key=SECRET,
                    newsletter_public_url="https://news.example.org")


@pytest.fixture
def cli_env(settings) -> dict[str, str]:
    """Environment for CliRunner so the CLI uses ``settings``' database and no .env file."""
    return {"NEWSLETTER_DATABASE": settings.newsletter_database, "NEWSLETTER_SECRET_KEY": SECRET,
            "NEWSLETTER_ENV_FILE": "/dev/null"}


@pytest.fixture
def seed_send(settings):
    """``seed_send(**kw)`` seeds subscribers and a send (see ``seeding.seed``) in ``settings``' database."""
    return lambda **kw: seeding.seed(settings.newsletter_database, **kw)


@pytest.fixture
def status_of(settings):
    """``status_of(subscriber_id)``: the subscriber's stored status."""
    return lambda subscriber_id: seeding.status_of(settings.newsletter_database, subscriber_id)


@pytest.fixture
def db(settings):
    """A connection to ``settings``' database (closed after the test)."""
    from newsletter.store import connect

    conn = connect(settings.newsletter_database)
    yield conn
    conn.close()
