"""Fixtures for the tracking tests: settings on a temporary database and a seeded send."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from newsletter.settings import Settings


def _load_seeding():
    # Loaded by path: tests/ is not a package, and tests/server uses the same helpers.
    spec = importlib.util.spec_from_file_location("tracking_seeding", Path(__file__).with_name("seeding.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


seeding = _load_seeding()
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
