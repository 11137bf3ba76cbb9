"""Database seeding shared by tests/tracking and tests/server (``from tests.tracking import seeding``).

The fixtures at the end are imported by both folders' conftest.py; each folder
supplies its own ``settings`` fixture.
"""

from __future__ import annotations

import json

import pytest

from newsletter.store import connect

SECRET = "tracking-test-secret-key-0123456789"
LINKS = ["https://example.org/a?utm_source=newsletter", "https://example.org/b", "https://example.com/c"]
NOW = "2026-11-24T08:00:00Z"


def seed(db_path, *, emails=("ann@example.org", "bob@example.org", "cy@example.org"), links=LINKS,
         slug="2026-11-example", list_name="main", accepted=True) -> dict:
    """A list of subscribers and one send to it, journaled as accepted. Returns the ids."""
    conn = connect(db_path)
    try:
        list_id = conn.execute("SELECT id FROM lists WHERE name = ?", (list_name,)).fetchone()
        list_id = list_id[0] if list_id else conn.execute(
            "INSERT INTO lists (name, created_at) VALUES (?, ?) RETURNING id", (list_name, NOW)).fetchone()[0]
        ids = []
        for email in emails:
            row = conn.execute("SELECT id FROM subscribers WHERE email_key = ?", (email.lower(),)).fetchone()
            sid = row[0] if row else conn.execute(
                "INSERT INTO subscribers (email, email_key, created_at, updated_at) VALUES (?, ?, ?, ?) RETURNING id",
                (email, email.lower(), NOW, NOW)).fetchone()[0]
            conn.execute("INSERT INTO memberships (list_id, subscriber_id, created_at) VALUES (?, ?, ?)"
                         " ON CONFLICT DO NOTHING", (list_id, sid, NOW))
            ids.append(sid)
        send_id = conn.execute(
            "INSERT INTO sends (slug, html_sha256, list_id, backend, subject, links, created_at)"
            " VALUES (?, 'x', ?, 'sendgrid', 'Hello', ?, ?) RETURNING id",
            (slug, list_id, json.dumps(links), NOW)).fetchone()[0]
        for sid in ids:
            conn.execute("INSERT INTO deliveries (send_id, subscriber_id, state, updated_at) VALUES (?, ?, ?, ?)",
                         (send_id, sid, "accepted" if accepted else "failed", NOW))
        return {"send_id": send_id, "list_id": list_id, "subscribers": ids}
    finally:
        conn.close()


def stored_status(db_path, subscriber_id: int) -> str:
    """The stored status of a subscriber."""
    conn = connect(db_path)
    try:
        return conn.execute("SELECT status FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def seed_send(settings):
    """``seed_send(**kw)`` seeds subscribers and a send (see ``seed``) in ``settings``' database."""
    return lambda **kw: seed(settings.newsletter_database, **kw)


@pytest.fixture
def status_of(settings):
    """``status_of(subscriber_id)``: the subscriber's stored status."""
    return lambda subscriber_id: stored_status(settings.newsletter_database, subscriber_id)
