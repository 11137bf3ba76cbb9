"""Numbered migrations are applied once and recorded."""

import sqlite3

import pytest

from newsletter import store
from newsletter.errors import StoreError


def test_fresh_database_gets_every_migration(tmp_path):
    conn = store.connect(tmp_path / "n.db")
    recorded = [row["name"] for row in conn.execute("SELECT name FROM schema_migrations ORDER BY version")]
    assert recorded == [name for _, name, _ in store.list_migrations()]
    assert recorded[0] == "0001_initial"
    assert store.migrate(conn) == []  # idempotent
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"subscribers", "lists", "memberships", "sends", "deliveries", "events"} <= tables


def test_failed_migration_rolls_back(tmp_path, monkeypatch):
    conn = store.connect(tmp_path / "n.db", migrate_schema=False)
    real = store.list_migrations()
    monkeypatch.setattr(store, "list_migrations", lambda: real + [(9999, "9999_broken", "CREATE TABLE x (a);\nTHIS IS NOT SQL;")])
    with pytest.raises(StoreError, match="9999_broken"):
        store.migrate(conn)
    assert conn.execute("SELECT count(*) FROM schema_migrations WHERE version = 9999").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'x'").fetchone()[0] == 0


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="folder does not exist"):
        store.connect(tmp_path / "nope" / "n.db")


def test_not_a_database(tmp_path):
    path = tmp_path / "n.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open database"):
        store.connect(path)
    assert isinstance(sqlite3.connect(":memory:"), sqlite3.Connection)
