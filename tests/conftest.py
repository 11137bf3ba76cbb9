"""Fixtures shared by every test package.

Every test runs with a clean configuration: no NEWSLETTER_*/SMTP_*/SENDGRID_*
variables from the developer's shell and no ./.env, so results do not depend
on the machine.

``database`` is a fresh, migrated database of each kind in turn: a SQLite
file, then a database on a real PostgreSQL server that the session starts
itself (``pgserver.py``); the store, delivery, tracking and server tests take
their database from it. Where PostgreSQL is not installed, its half is
skipped with a reason saying how to get it. A test marked ``sqlite_only``
(it is about SQLite itself: a lock held by another connection, a file path)
runs on SQLite alone.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from newsletter.settings import Settings, load_settings, setting_names
from tests import pgserver

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_ISSUE = ROOT / "issues" / "2026-11-example.md"
TEST_SECRET_KEY = "test-secret-key-0123456789abcdef"


@pytest.fixture(scope="session")
def quiet_dns():
    """A DNS server of the tests' own on loopback with no records (every name is NXDOMAIN at once)."""
    from tests.dnsserver import DNSZone

    zone = DNSZone().start()
    yield zone
    zone.stop()


@pytest.fixture(autouse=True)
def clean_settings_env(monkeypatch, quiet_dns):
    """Remove every setting from the environment and point .env at nothing.

    ``NEWSLETTER_DNS_RESOLVER`` points at ``quiet_dns``: `send` looks up the From domain's
    records for SMTP and SendGrid sends, and no test may ask the machine's resolver (no internet).
    """
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NEWSLETTER_ENV_FILE", os.devnull)  # no settings file (a missing one is an error)
    monkeypatch.setenv("NEWSLETTER_DNS_RESOLVER", quiet_dns.resolver)


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Default settings with a test signing key and paths inside tmp_path."""
    return load_settings({}).with_overrides(
        # The tests' mail servers and `serve` run on loopback: let sends carry links to it
        # (tests/delivery/test_public_url.py holds the refusal without this).
        newsletter_allow_local_links=True,
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


DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the whole session, with a migrated template database; skipped if not installed."""
    why = pgserver.unavailable()
    if why:
        pytest.skip(why)
    from newsletter.store import connect

    server = pgserver.PostgresServer().start()
    try:
        template = server.create_database(prefix="template_newsletter_")
        connect(template).close()  # every migration, applied once; each test's database is a copy
        server.template = template.rsplit("/", 1)[1]
        yield server
    finally:
        server.stop()


@pytest.fixture(params=DATABASES)
def database(request, tmp_path):
    """``NEWSLETTER_DATABASE`` of a fresh, migrated database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "newsletter.db")
        return
    server = request.getfixturevalue("postgres_server")
    url = server.create_database(template=server.template)
    yield url
    server.drop_database(url)


@pytest.fixture
def postgres_database(postgres_server):
    """A fresh, migrated PostgreSQL database alone (for what only PostgreSQL does): its URL."""
    url = postgres_server.create_database(template=postgres_server.template)
    yield url
    postgres_server.drop_database(url)


def pytest_collection_modifyitems(config, items):
    """A ``sqlite_only`` test runs with the SQLite ``database`` alone."""
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("database") == "postgresql"
        (drop if on_postgres and item.get_closest_marker("sqlite_only") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def needs_chromium() -> None:
    """Skip, saying how to get it, when the system Chromium or Playwright is missing."""
    from newsletter.review.screenshots import chromium_path
    from tests.review.helpers import NO_CHROMIUM

    if chromium_path() is None:
        pytest.skip(NO_CHROMIUM)
    pytest.importorskip("playwright.sync_api", reason=NO_CHROMIUM)


@pytest.fixture(scope="module")
def browser(needs_chromium):
    """A real headless Chromium for the module (the system one, never a download)."""
    from newsletter.review.screenshots import launch_browser

    with launch_browser() as chromium:
        yield chromium
