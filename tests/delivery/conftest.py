"""Fixtures for delivery tests: a real SMTP server (aiosmtpd), a SendGrid stand-in, issues and lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.delivery.fakes import API_KEY, RecordingHandler, SendGridStandIn, free_port, settings_env

ISSUE_BODY = """
Hello %%name%%, welcome to this issue.

Read [the post](https://news.example.org/blog/post) and [the docs](https://docs.example.org/start).
"""
ISSUE_FRONTMATTER = """
title: "Test issue"
seo:
  url: https://news.example.org/blog/test
  description: A test preheader
category:
  - value: news
    label: News
"""


@pytest.fixture
def issue(write_issue) -> Path:
    """A small valid issue whose body greets the recipient by name."""
    return write_issue(ISSUE_BODY, ISSUE_FRONTMATTER)


@pytest.fixture
def settings(settings, database):
    """The shared test settings on a fresh database of each kind (SQLite, then PostgreSQL)."""
    return settings.with_overrides(newsletter_database=database)


@pytest.fixture
def sendgrid_server():
    """A running SendGrid stand-in (see tests/delivery/fakes.py)."""
    server = SendGridStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server():
    """A running aiosmtpd server on loopback; yields ``(handler, port)``."""
    from aiosmtpd.controller import Controller

    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    handler.release.set()
    controller.stop()


@pytest.fixture
def sendgrid_settings(settings, sendgrid_server):
    """Settings pointing the sendgrid backend at the stand-in."""
    # One request in flight, so faults injected per request land on a known batch
    # (tests of requests in flight raise NEWSLETTER_CONCURRENCY themselves).
    return settings.with_overrides(
        newsletter_backend="sendgrid", sendgrid_api_key=API_KEY, sendgrid_api_url=sendgrid_server.url, sendgrid_timeout=5.0,
        newsletter_concurrency=1,
    )


@pytest.fixture
def smtp_settings(settings, smtp_server):
    """Settings pointing the smtp backend at the aiosmtpd server."""
    _, port = smtp_server
    return settings.with_overrides(newsletter_backend="smtp", smtp_host="127.0.0.1", smtp_port=port, smtp_timeout=10.0)


@pytest.fixture
def make_list(settings):
    """Create list ``name`` with ``n`` subscribers sub<i>@example.org (plus ``extra`` (email, name) pairs)."""
    from newsletter.store import connect, transaction
    from newsletter.store import subscribers as store

    def make(name: str = "news", n: int = 0, extra=(), *, database: str | None = None) -> list[str]:
        conn = connect(database or settings.newsletter_database)
        emails = []
        with transaction(conn):
            list_id = store.ensure_list(conn, name)
            people = [(f"sub{i}@example.org", f"Subscriber {i}") for i in range(1, n + 1)] + list(extra)
            for email, person in people:
                sid, _, _ = store.upsert_subscriber(conn, email, person, {})
                store.add_membership(conn, list_id, sid)
                emails.append(email.lower())
        conn.close()
        return emails

    return make


@pytest.fixture
def make_many(settings):
    """``make_many(n, name="news")``: list ``name`` with ``n`` subscribers user<i>@example.org, written in bulk."""
    from newsletter.store import connect, transaction
    from newsletter.store import subscribers as store

    def make(n: int, name: str = "news") -> list[str]:
        emails = [f"user{i}@example.org" for i in range(1, n + 1)]
        conn = connect(settings.newsletter_database)
        try:
            with transaction(conn):
                list_id = store.ensure_list(conn, name)
                now = store.utcnow()
                conn.executemany(
                    "INSERT INTO subscribers (email, email_key, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                    [(e, e, f"User {i}", now, now) for i, e in enumerate(emails, start=1)],
                )
                conn.execute("INSERT INTO memberships (list_id, subscriber_id, created_at) SELECT ?, id, ? FROM subscribers",
                             (list_id, now))
        finally:
            conn.close()
        return emails

    return make


@pytest.fixture
def cli(monkeypatch):
    """``cli(config, *args)`` runs the real CLI in-process with ``config`` as its environment."""
    from typer.testing import CliRunner

    from newsletter.cli import app

    def run(config, *args: str, input: str | None = None):
        for name, value in settings_env(config).items():
            monkeypatch.setenv(name, value)
        return CliRunner().invoke(app, [str(a) for a in args], input=input)

    return run


@pytest.fixture
def harness_servers():
    """The SendGrid stand-in and an aiosmtpd server (SMTPUTF8 on) for the fault-injection harness."""
    from tests.delivery.harness.servers import Servers

    servers = Servers()
    yield servers
    servers.close()
