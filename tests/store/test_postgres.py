"""What only PostgreSQL does: row locks that workers skip, an advisory lock around migrations,
a password that never shows; and what must be the same on both: the schema."""

from __future__ import annotations

import pytest

from newsletter import store
from newsletter.errors import StoreError
from newsletter.store import ledger, postgres, sends, transaction
from newsletter.store import subscribers as people
from newsletter.store.runs import Process
from newsletter.store.segments import Audience
from newsletter.store.sends import SendVersion
from tests.databases import migration_versions, open_together

pytestmark = pytest.mark.postgresql


@pytest.fixture
def pg(postgres_database):
    """A fresh, migrated PostgreSQL database: its URL."""
    return postgres_database


def test_placeholders_leave_quoted_text_alone():
    assert postgres.placeholders("SELECT '?', \"a?\" FROM t WHERE x = ? AND y LIKE '10%'") == \
        "SELECT '?', \"a?\" FROM t WHERE x = %s AND y LIKE '10%%'"
    assert postgres.placeholders("SELECT 'it''s ?' WHERE a = ?") == "SELECT 'it''s ?' WHERE a = %s"


def test_both_databases_get_the_same_schema(pg, tmp_path):
    lite, server = store.connect(tmp_path / "n.db"), store.connect(pg)
    try:
        def schema(conn):
            return {t: sorted(name for name, _ in conn.dialect.columns(conn, t)) for t in conn.dialect.tables(conn)}

        assert schema(lite) == schema(server)
        assert store.applied_migrations(lite).keys() == store.applied_migrations(server).keys()
        assert [n for n, _ in store.applied_migrations(server).values()] == [n for _, n, _ in store.list_migrations()]
    finally:
        lite.close()
        server.close()


def _claim(url, send_id, list_id, run_id):
    conn = store.connect(url, migrate_schema=False)
    try:
        rows, _ = ledger.claim(conn, send_id, list_id, run_id, ledger.Wanted("queued", 0, 3, 1, True))
        return [r[0] for r in rows]
    finally:
        conn.close()


def test_a_claim_skips_the_rows_another_worker_is_claiming(pg):
    conn = store.connect(pg)
    with transaction(conn):
        list_id = people.ensure_list(conn, "news")
        for i in range(6):
            sid, _, _ = people.upsert_subscriber(conn, f"s{i}@example.org", "", {})
            people.add_membership(conn, list_id, sid)
    send_id, size, _ = sends.create_send(conn, "x", list_id, Audience(), SendVersion("h", "S", [], "outbox"))
    from newsletter.store import runs

    first, second = (runs.start(conn, send_id, Process(o, "h", 1, ""), lease_s=60, worker=True,
                                is_gone=lambda run: False)[0] for o in ("a", "b"))
    other = store.connect(pg, migrate_schema=False)
    try:
        other.execute("BEGIN")  # another worker's claim, half done: it holds the first three rows
        held = [r[0] for r in other.execute(
            "SELECT subscriber_id FROM deliveries WHERE send_id = ? ORDER BY subscriber_id LIMIT 3 FOR UPDATE",
            (send_id,))]
        assert _claim(pg, send_id, list_id, run_id=first) == [i for i in range(1, 7) if i not in held]  # no wait
        other.execute("ROLLBACK")
        assert _claim(pg, send_id, list_id, run_id=second) == held  # released: the next claim takes them
    finally:
        other.close()
        conn.close()


def test_a_row_lock_held_too_long_is_one_plain_error(pg):
    holder, waiter = store.connect(pg), store.connect(pg, timeout=0.3)
    try:
        with transaction(holder):
            people.ensure_list(holder, "news")
        holder.execute("BEGIN")
        holder.execute("UPDATE lists SET title = 'x'")
        with pytest.raises(StoreError) as caught:
            with transaction(waiter):
                waiter.execute("UPDATE lists SET title = 'y'")
        assert caught.value.message == "the database is locked by another process (waited 0.3 s)"
        assert postgres.redact(pg) in str(caught.value)
        holder.execute("ROLLBACK")
    finally:
        holder.close()
        waiter.close()


def test_concurrent_first_start_on_an_empty_database_applies_each_migration_once(postgres_server):
    for _trial in range(3):
        url = postgres_server.create_database()  # empty: no template
        try:
            assert open_together(url) == [0] * 6
            assert migration_versions(url) == [n for n, _, _ in store.list_migrations()]
        finally:
            postgres_server.drop_database(url)


@pytest.mark.parametrize("where, password, words", [
    ("127.0.0.1:1/news", None, "cannot reach the database server"),  # nobody listens on port 1
    ("{server}/no_such_db", None, "no such database on the server"),
    ("{server}/postgres", "wrong-password-0123", "refused the login"),
])
def test_connection_failures_name_the_database_without_its_password(postgres_server, where, password, words):
    password = password or postgres_server.password
    url = f"postgresql://newsletter:{password}@" + where.format(server=f"127.0.0.1:{postgres_server.port}")
    with pytest.raises(StoreError) as caught:
        store.connect(url, timeout=2)
    text = str(caught.value)
    assert words in text and postgres.redact(url) in text and password not in text


def test_redact_hides_the_password_wherever_the_url_carries_one():
    assert postgres.redact("postgresql://ann:s3cret@db:5432/news") == "postgresql://ann:***@db:5432/news"
    assert postgres.redact("postgres://db/news?password=s3cret&sslmode=require") == \
        "postgres://db/news?password=***&sslmode=require"
    assert postgres.redact("postgresql://ann@db/news") == "postgresql://ann@db/news"


@pytest.mark.parametrize("url", ["postgresql://ann:s3cr%zzet@db/news", "postgresql://ann:s3cret@db/news?bogus=1",
                                 "postgresql://ann:s3cret@[db/news"])
def test_a_malformed_url_is_a_settings_error_without_its_password(url):
    from newsletter.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        store.connect(url)
    assert str(caught.value).startswith("NEWSLETTER_DATABASE: not a valid PostgreSQL URL")
    assert "s3cr" not in str(caught.value) and "postgresql://ann:***@" in str(caught.value)
