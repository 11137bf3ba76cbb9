"""Migration 0009 on a database with events from before verdicts: judged unknown (machine where SendGrid
flagged them), and their IP address and user agent gone; on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from newsletter import store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def empty_database(request, tmp_path):
    """A database with no migration applied yet: a SQLite file, then an empty PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "newsletter.db")
        return
    server = request.getfixturevalue("postgres_server")
    url = server.create_database()
    yield url
    server.drop_database(url)


def test_events_stored_before_verdicts_are_judged_and_stripped(empty_database, monkeypatch):
    database = empty_database
    every = store.list_migrations()
    monkeypatch.setattr(store, "list_migrations", lambda: [m for m in every if m[0] < 9])
    conn = store.connect(database)
    try:
        assert "verdict" not in {name for name, _ in conn.dialect.columns(conn, "events")}
        rows = [("open", {"sg_machine_open": True, "ip": "203.0.113.9", "useragent": "Mozilla/5.0"}),
                ("open", {"ip": "203.0.113.9", "useragent": "Mail"}), ("click", {"url": "https://example.org/"}),
                ("delivered", {"ip": "198.51.100.7"})]
        for n, (kind, raw) in enumerate(rows):
            conn.execute("INSERT INTO events (source, event_key, type, occurred_at, raw) VALUES ('sendgrid', ?, ?,"
                         " '2026-11-24T08:00:00Z', ?)", (f"k{n}", kind, json.dumps({"event": kind, **raw})))
    finally:
        conn.close()
    monkeypatch.setattr(store, "list_migrations", lambda: every)
    conn = store.connect(database)
    try:
        found = [(r[0], r[1], json.loads(r[2])) for r in conn.execute("SELECT type, verdict, raw FROM events ORDER BY id")]
    finally:
        conn.close()
    assert [(kind, verdict) for kind, verdict, _ in found] == [
        ("open", "machine"), ("open", "unknown"), ("click", "unknown"), ("delivered", "")]
    assert not any("ip" in raw or "useragent" in raw for _, _, raw in found)
    assert found[0][2]["sg_machine_open"] is True and found[2][2]["url"] == "https://example.org/"
