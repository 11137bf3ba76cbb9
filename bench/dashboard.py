"""Benchmark: the dashboard's send page of a large send, on SQLite and PostgreSQL.

One send to ``--recipients`` subscribers (a realistic mix of Gmail, Outlook, Yahoo, iCloud and 2,000
company domains) with ``--events`` events over its first 72 hours (deliveries, opens and clicks judged
human, machine or unknown, bounces, complaints, unsubscribes), loaded straight into the tables. Then
the page is built as the server builds it (figures from ``tracking.report.send_report``, HTML from
``server.dashboard_pages``) on one connection: the first time (which also rolls the recipients up by
domain, once, for a finished send) and then ``--runs`` times more (median). Target: under 1 s.

    .venv/bin/python bench/dashboard.py [--recipients 1000000] [--events 1000000] [--runs 5]
        [--databases sqlite,postgresql]

PostgreSQL 15 runs on this host (tests/pgserver.py: initdb into a temporary folder, removed at the end).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from newsletter import store  # noqa: E402
from newsletter.server import dashboard_pages as pages  # noqa: E402
from newsletter.store import transaction  # noqa: E402
from newsletter.tracking.report import send_report  # noqa: E402

START = 1_795_507_200  # 2026-11-24T08:00:00Z
BIG = [("gmail.com", 30), ("outlook.com", 8), ("hotmail.com", 6), ("yahoo.com", 7), ("icloud.com", 6), ("me.com", 1)]
COMPANIES = [f"company{i}.example" for i in range(2000)]
KINDS = [("delivered", 45), ("open", 30), ("click", 8), ("deferred", 9), ("processed", 5), ("bounce", 1.5),
         ("unsubscribe", 0.4), ("spamreport", 0.1)]
VERDICTS = [("human", 40), ("machine", 50), ("unknown", 10)]


def iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def subscribers(n: int) -> Iterator[tuple]:
    rng = random.Random(1)
    names = [d for d, _ in BIG] + ["*"]
    weights = [w for _, w in BIG] + [100 - sum(w for _, w in BIG)]
    now = iso(START - 86400 * 30)
    for i in range(1, n + 1):
        domain = rng.choices(names, weights)[0]
        domain = rng.choice(COMPANIES) if domain == "*" else domain
        email = f"user{i}@{domain}"
        yield (i, email, email, now, now)


def events(n: int, recipients: int, send_id: int) -> Iterator[tuple]:
    rng = random.Random(2)
    kinds, kind_weights = [k for k, _ in KINDS], [w for _, w in KINDS]
    verdicts, verdict_weights = [v for v, _ in VERDICTS], [w for _, w in VERDICTS]
    for i in range(1, n + 1):
        kind = rng.choices(kinds, kind_weights)[0]
        who = rng.randint(1, recipients)
        at = iso(START + rng.expovariate(1 / 14400) % (72 * 3600))
        verdict = rng.choices(verdicts, verdict_weights)[0] if kind in ("open", "click") else ""
        url = f"https://example.org/story/{rng.randint(1, 12)}" if kind == "click" else ""
        yield (i, "sendgrid", f"e{i}", kind, send_id, who, f"user{who}@x", url, at, "{}", verdict,
               "bench" if verdict else "")


EVENT_COLUMNS = ("id", "source", "event_key", "type", "send_id", "subscriber_id", "email", "url", "occurred_at", "raw",
                 "verdict", "verdict_reason")


def load(target: str, recipients: int, count: int) -> int:
    """Fill ``target`` with one finished send; returns its id."""
    conn = store.connect(target)
    postgres = conn.dialect.name == "postgresql"
    started = time.perf_counter()
    try:
        with transaction(conn):
            list_id = conn.execute("INSERT INTO lists (name, created_at) VALUES ('bench', ?) RETURNING id",
                                   (iso(START),)).fetchone()[0]
            columns = ("id", "email", "email_key", "created_at", "updated_at")
            if postgres:
                conn.dialect.copy_rows(conn, "subscribers", columns, subscribers(recipients))
            else:
                conn.executemany("INSERT INTO subscribers (id, email, email_key, created_at, updated_at)"
                                 " VALUES (?, ?, ?, ?, ?)", subscribers(recipients))
            conn.execute("INSERT INTO memberships (list_id, subscriber_id, created_at) SELECT ?, id, ? FROM subscribers",
                         (list_id, iso(START)))
            send_id = conn.execute(
                "INSERT INTO sends (slug, list_id, html_sha256, backend, subject, links, created_at, started_at,"
                " finished_at) VALUES ('bench', ?, 'x', 'sendgrid', 'Bench', '[]', ?, ?, ?) RETURNING id",
                (list_id, iso(START), iso(START), iso(START + 3600))).fetchone()[0]
            conn.execute("INSERT INTO deliveries (send_id, subscriber_id, state, attempts, updated_at)"
                         " SELECT ?, id, CASE WHEN id % 1000 = 7 THEN 'in_doubt' ELSE 'accepted' END, 1, ?"
                         " FROM subscribers", (send_id, iso(START)))
            if postgres:
                conn.dialect.copy_rows(conn, "events", EVENT_COLUMNS, events(count, recipients, send_id))
            else:
                conn.executemany(f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * 12)})",
                                 events(count, recipients, send_id))
        if postgres:
            conn.dialect.after_copy(conn, ["subscribers", "events"])  # ids go on after the copied ones
        conn.execute("VACUUM ANALYZE" if postgres else "ANALYZE")
    finally:
        conn.close()
    print(f"  loaded {recipients:,} recipients and {count:,} events in {time.perf_counter() - started:.0f} s", flush=True)
    return int(send_id)


def render(target: str, send_id: int) -> float:
    """Seconds to build the send page once, on a fresh connection (as a server thread's first request would)."""
    conn = store.connect(target, migrate_schema=False)
    try:
        started = time.perf_counter()
        report = send_report(conn, send_id)
        assert report is not None
        html = pages.page("bench", pages.send_body(report))
        elapsed = time.perf_counter() - started
        assert 'data-chart="funnel"' in html
        return elapsed
    finally:
        conn.close()


#: Events that arrive after the page was last shown, as one SendGrid webhook post brings them.
NEW_EVENTS = 1000


def add_events(target: str, send_id: int, after: int, recipients: int, count: int) -> None:
    """``count`` more events (ids after ``after``), as if they had just arrived."""
    conn = store.connect(target, migrate_schema=False)
    try:
        rows = [(after + i, *row[1:]) for i, row in enumerate(events(count, recipients, send_id), start=1)]
        rows = [(r[0], r[1], f"new{r[0]}", *r[3:]) for r in rows]
        with transaction(conn):
            conn.executemany(f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * 12)})", rows)
    finally:
        conn.close()


def first_view(target: str, send_id: int) -> str:
    """The first view of a send, part by part: what it computes once and keeps."""
    from newsletter.store import dashboard, rollups

    conn = store.connect(target, migrate_schema=False)
    try:
        parts = []
        started = time.perf_counter()
        [row] = dashboard.sends(conn, send_id)
        parts.append(f"ledger counts {time.perf_counter() - started:.2f} s")
        started = time.perf_counter()
        rollups.catch_up(conn, send_id)
        parts.append(f"event roll-ups {time.perf_counter() - started:.2f} s")
        started = time.perf_counter()
        dashboard.recipient_domains(conn, send_id, row["recipients"], row["accepted"], keep=True)
        parts.append(f"recipients by domain {time.perf_counter() - started:.2f} s")
    finally:
        conn.close()
    parts.append(f"then the page {render(target, send_id):.2f} s")
    return ", ".join(parts)


def main() -> None:
    """Parse options, load each database and time the page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    wanted = args.databases.split(",")
    server = None
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        try:
            for kind in wanted:
                if kind == "postgresql":
                    import pgserver  # tests/pgserver.py

                    why = pgserver.unavailable()
                    if why:
                        print(f"PostgreSQL skipped: {why}")
                        continue
                    server = pgserver.PostgresServer(fast=False).start()
                    target = server.create_database(prefix="dashboard_")
                else:
                    target = str(Path(tmp) / "dashboard.db")
                print(f"{kind}:", flush=True)
                send_id = load(target, args.recipients, args.events)
                first = first_view(target, send_id)
                times = [render(target, send_id) for _ in range(args.runs)]
                print(f"  first view (once per send): {first}", flush=True)
                print(f"  send page: median {statistics.median(times):.3f} s of {args.runs}"
                      f" (min {min(times):.3f}, max {max(times):.3f})", flush=True)
                add_events(target, send_id, args.events, args.recipients, NEW_EVENTS)
                print(f"  send page after {NEW_EVENTS:,} new events (a webhook post): {render(target, send_id):.3f} s",
                      flush=True)
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
