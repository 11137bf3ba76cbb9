"""Benchmark: the audience features at list scale.

On a fresh SQLite database with N subscribers (default 100,000) on one list,
each with attributes, a send journaled for all of them and one event each:

- signup: ``register`` plus rendering and writing the confirmation email
  (outbox backend), per signup;
- a segment count over the whole list (``--where city=Oslo --where team!=red``);
- ``subscribers list --list`` streamed to the end (membership status applied);
- ``subscribers erase`` of one address (the file is rewritten: VACUUM).

    .venv/bin/python bench/audience.py [--subscribers 100000] [--signups 50]

Prints each figure and the database size.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from newsletter.settings import Settings
from newsletter.store import connect

NOW = "2026-11-24T08:00:00Z"
CITIES = ("Oslo", "Bergen", "Tromsø", "Stavanger")


def seed(db: Path, subscribers: int) -> None:
    """One signup list with ``subscribers`` members, a send to all of them and one open each."""
    conn = connect(db)
    conn.execute("BEGIN")
    conn.execute("INSERT INTO lists (name, title, signup, created_at) VALUES ('news', 'News', 1, ?)", (NOW,))
    conn.executemany(
        "INSERT INTO subscribers (email, email_key, name, attributes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        ((f"person{i}@example.org", f"person{i}@example.org", f"Person {i}",
          json.dumps({"city": CITIES[i % 4], "team": "red" if i % 3 else "blue"}), NOW, NOW)
         for i in range(1, subscribers + 1)),
    )
    conn.execute("INSERT INTO memberships (list_id, subscriber_id, created_at) SELECT 1, id, ? FROM subscribers", (NOW,))
    conn.execute("INSERT INTO sends (slug, html_sha256, list_id, backend, subject, created_at)"
                 " VALUES ('bench', 'x', 1, 'outbox', 'Bench', ?)", (NOW,))
    conn.execute("INSERT INTO deliveries (send_id, subscriber_id, state, updated_at)"
                 " SELECT 1, id, 'accepted', ? FROM subscribers", (NOW,))
    conn.execute("INSERT INTO events (source, type, send_id, subscriber_id, email, occurred_at, raw)"
                 " SELECT 'sendgrid', 'open', 1, id, email_key, ?, json_object('email', email_key, 'ip', '192.0.2.1')"
                 " FROM subscribers", (NOW,))
    conn.execute("COMMIT")
    conn.close()


def timed(label: str, work, count: int = 1) -> None:
    started = time.perf_counter()
    for _ in range(count):
        work()
    elapsed = time.perf_counter() - started
    per = f" ({elapsed / count * 1000:.1f} ms each)" if count > 1 else ""
    print(f"{label}: {elapsed:.2f} s{per}")


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--signups", type=int, default=50)
    args = parser.parse_args()

    from newsletter.audience import confirmation, consent, segments, signup
    from newsletter.audience.members import list_subscribers
    from newsletter.store import segments as segment_store

    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.db"
        settings = Settings(newsletter_database=str(db), newsletter_outbox=str(Path(folder) / "outbox"),
                            newsletter_secret_key="bench-secret-key-0123456789abcdef")
        started = time.perf_counter()
        seed(db, args.subscribers)
        print(f"seeded {args.subscribers:,} subscribers in {time.perf_counter() - started:.1f} s")

        conn = connect(db)
        numbers = iter(range(args.signups))

        def one_signup() -> None:
            form = signup.parse_form({"email": f"new{next(numbers)}@example.org", "consent": True})
            pending = signup.register(conn, settings, "news", form, ip="192.0.2.9", source="form")
            confirmation.send(settings, pending, signup.confirm_url(settings, pending))

        timed(f"{args.signups} signups with their confirmation email (outbox)", one_signup, args.signups)
        conditions = segments.parse_conditions(["city=Oslo", "team!=red"])
        found: list[int] = []
        timed("segment count over the list", lambda: found.append(segment_store.count_matching(conn, 1, conditions)))
        print(f"  {found[0]:,} members match")
        conn.close()
        timed("subscribers list --list news (streamed)", lambda: sum(1 for _ in list_subscribers(settings, list_name="news")))
        timed("subscribers erase (with VACUUM)", lambda: consent.erase_subscriber("person77@example.org", settings))
        print(f"database size: {db.stat().st_size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
