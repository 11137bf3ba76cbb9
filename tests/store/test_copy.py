"""``newsletter db copy``: a whole store from SQLite to PostgreSQL and back, the same to the last row."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from newsletter import store
from newsletter.cli import app
from newsletter.errors import InputError, StoreError
from newsletter.store import admin, transaction
from newsletter.store import consent as consent_store
from newsletter.store import segments as segment_store
from newsletter.store import subscribers as people

pytestmark = pytest.mark.postgresql

CSV = "email,name,city\nann@example.org,Ann,Oslo\nbob@example.org,Bob,Bergen\ncy@example.org,Cy,Oslo\n" + "".join(
    f"user{i}@example.org,User {i},Oslo\n" for i in range(40))


@pytest.fixture
def pg(postgres_database):
    """A fresh PostgreSQL database: its URL."""
    return postgres_database


def fill(settings, issue, tmp_path) -> None:
    """A store with something in every table, made the way the tool makes it."""
    from newsletter.audience.consent import erase_subscriber
    from newsletter.audience.members import import_csv
    from newsletter.delivery.plan import SendOptions
    from newsletter.delivery.send import send_issue
    from newsletter.tracking.provider_events import ingest_sendgrid, record_tracking

    people_csv = tmp_path / "people.csv"
    people_csv.write_text(CSV, encoding="utf-8")
    import_csv(people_csv, "news", settings)
    conn = store.connect(settings.newsletter_database)
    try:
        with transaction(conn):
            list_id = people.save_list(conn, "news", title="News", signup=True)
            facts = consent_store.ConsentFacts("form", "Yes, send it", "abc", "hmac-sha256:ff")
            signup = consent_store.register_signup(conn, list_id, "new@example.org", "New", facts, mail_after="")
            consent_store.confirm_signup(conn, signup.consent_id)
            segment_store.save_segment(conn, "oslo", list_id, [segment_store.Condition("city", "=", "Oslo")])
    finally:
        conn.close()
    report = send_issue(issue, SendOptions("news"), settings)
    assert report.status == "done"
    conn = store.connect(settings.newsletter_database)
    try:
        ids = dict(conn.execute("SELECT email_key, id FROM subscribers").fetchall())
        send_id = report.send_id
        events = [{"event": kind, "email": email, "timestamp": 1795000000 + n, "sg_event_id": f"e{n}",
                   "send_id": str(send_id), "subscriber_id": str(ids[email]), "url": "https://news.example.org/blog/post",
                   "sg_machine_open": n % 2 == 0}
                  for n, (kind, email) in enumerate([("delivered", "ann@example.org"), ("open", "ann@example.org"),
                                                     ("open", "bob@example.org"), ("click", "ann@example.org"),
                                                     ("bounce", "cy@example.org"), ("spamreport", "user1@example.org"),
                                                     ("unsubscribe", "user2@example.org")])]
        ingest_sendgrid(conn, events)
        record_tracking(conn, "click", send_id, ids["bob@example.org"], "https://docs.example.org/start")
    finally:
        conn.close()
    erase_subscriber("user3@example.org", settings)


def everything(database) -> dict[str, list[tuple]]:
    """Every row of every table, sorted, with rows as plain tuples in column-name order."""
    conn = store.connect(database, migrate_schema=False)
    try:
        found = {}
        for table in admin.tables(conn):
            columns = sorted(name for name, _ in conn.dialect.columns(conn, table))
            names = ", ".join(columns)
            found[table] = sorted(tuple(r) for r in conn.execute(f"SELECT {names} FROM {table}"))
        return found
    finally:
        conn.close()


def stats_of(settings, database):
    from newsletter.tracking.stats import collect_stats

    return [s.as_dict() for s in collect_stats(settings.with_overrides(newsletter_database=database))]


def test_sqlite_to_postgresql_and_back_keeps_every_row_and_the_same_stats(settings, write_issue, pg, tmp_path):
    issue = write_issue("Hello %%name%%, read [the post](https://news.example.org/blog/post).")
    fill(settings, issue, tmp_path)
    source = settings.newsletter_database
    before = everything(source)
    assert all(before[t] for t in ("subscribers", "consents", "memberships", "segments", "sends", "deliveries",
                                   "send_runs", "events", "suppressions", "lists"))
    stats = stats_of(settings, source)
    assert stats[0]["unique_opens"] == 2 and stats[0]["machine_opens"] == 1 and stats[0]["bounced"] == 1

    there = admin.copy(source, pg)
    assert there.rows == {t: len(rows) for t, rows in before.items()}
    assert stats_of(settings, pg) == stats
    back_path = str(tmp_path / "back.db")
    back = admin.copy(pg, back_path)
    assert back.rows == there.rows
    assert everything(back_path) == before  # the same rows, to the last column
    assert stats_of(settings, back_path) == stats

    # New rows on PostgreSQL get ids after the copied ones.
    conn = store.connect(pg)
    try:
        with transaction(conn):
            new_id, _, _ = people.upsert_subscriber(conn, "later@example.org", "", {})
        assert new_id > max(r[0] for r in conn.execute("SELECT id FROM subscribers WHERE email_key != ?",
                                                       ("later@example.org",)).fetchall())
    finally:
        conn.close()


def test_copy_refuses_a_target_that_holds_anything(settings, write_issue, pg, tmp_path):
    conn = store.connect(pg)
    with transaction(conn):
        people.ensure_list(conn, "already-here")
    conn.close()
    source = str(tmp_path / "s.db")
    store.connect(source).close()
    with pytest.raises(InputError, match=r"the target is not empty \(1 in lists rows\)"):
        admin.copy(source, pg)
    with pytest.raises(InputError, match="the same database"):
        admin.copy(pg, pg)
    with pytest.raises(InputError, match="no database here yet"):
        admin.copy(str(tmp_path / "missing.db"), str(tmp_path / "t.db"))


def test_a_copy_that_fails_half_way_leaves_the_target_empty(settings, pg, tmp_path):
    source = str(tmp_path / "s.db")
    conn = store.connect(source)
    with transaction(conn):
        people.ensure_list(conn, "news")
        conn.execute("INSERT INTO subscribers (email, email_key, created_at, updated_at, attributes)"
                     " VALUES ('a@b.c', 'a@b.c', 'now', 'now', '{}')")
        # SQLite takes text in an INTEGER column; PostgreSQL does not: this last row cannot be copied.
        conn.execute("INSERT INTO events (source, type, occurred_at, attempt) VALUES ('x', 'open', 'now', 'two')")
    conn.close()
    with pytest.raises(StoreError, match="the copy failed, nothing was kept"):
        admin.copy(source, pg)
    conn = store.connect(pg)
    assert set(admin.row_counts(conn).values()) == {0}
    conn.close()


def test_db_commands_show_the_database_without_its_password(pg, postgres_server, tmp_path):
    env = {"NEWSLETTER_DATABASE": pg, "NEWSLETTER_ENV_FILE": "/dev/null"}
    runner = CliRunner()
    assert runner.invoke(app, ["lists", "create", "news"], env=env).exit_code == 0
    status = runner.invoke(app, ["db", "status", "--json"], env=env)
    assert status.exit_code == 0, status.output
    shown = json.loads(status.output)
    assert shown["database"] == store.display_name(pg) and shown["kind"] == "postgresql"
    assert [m["name"] for m in shown["applied"]] == [name for _, name, _ in store.list_migrations()]
    assert shown["pending"] == [] and shown["rows"]["lists"] == 1 and shown["rows"]["subscribers"] == 0
    assert runner.invoke(app, ["db", "migrate"], env=env).output.endswith("up to date, nothing to apply\n")
    copied = runner.invoke(app, ["db", "copy", pg, str(tmp_path / "c.db")], env=env)
    assert copied.exit_code == 0 and "counts match" in copied.output
    refused = runner.invoke(app, ["db", "copy", str(tmp_path / "c.db"), pg], env=env)
    assert refused.exit_code == 2 and "Error: " in refused.output
    for result in (status, copied, refused):
        assert postgres_server.password not in result.output
