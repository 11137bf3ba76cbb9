"""Benchmarks of the PostgreSQL store, next to SQLite where there is a SQLite side.

    .venv/bin/python bench/postgres.py [send] [import] [events] [stats]
        [--recipients 1000000] [--latency-ms 100] [--workers 1,4] [--rows 1000000] [--events 100000]

- send: ``--recipients`` through the SendGrid stand-in of bench/send.py answering after ``--latency-ms``,
  by one ``send --worker`` process, then by four at once (``--workers``), on PostgreSQL. Wall time from
  the start of the first process to the end of the last (start-up and compose included).
- import: ``subscribers import`` of a ``--rows`` CSV (email, name, city) into SQLite, then PostgreSQL (COPY).
- events: ``--events`` SendGrid events as signed POSTs of 1,000 through ``serve --workers 2`` on
  PostgreSQL, four clients posting at once.
- stats: ``stats`` of one send with 1,000,000 events (``--stats-events``), SQLite and PostgreSQL.

PostgreSQL 15 runs on this host (tests/pgserver.py: initdb into a temporary folder, removed at the end)
with fsync on and ``synchronous_commit=off`` – a crash of a process loses nothing, a power cut may lose
the last commits, as with the SQLite store's ``synchronous=NORMAL``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import httpx  # noqa: E402
import pgserver  # noqa: E402  tests/pgserver.py
from events import Signer, make_events  # noqa: E402  bench/events.py
from send import ISSUE, SECRET, SENDGRID_SERVER, start_server  # noqa: E402  bench/send.py

from newsletter import store  # noqa: E402
from newsletter.store import transaction  # noqa: E402

NOW = "2026-11-24T00:00:00Z"


def fill_subscribers(target: str, n: int, list_name: str = "bench") -> int:
    """``n`` active subscribers on a new list; returns the list id."""
    conn = store.connect(target)
    try:
        with transaction(conn):
            list_id = conn.execute("INSERT INTO lists (name, created_at) VALUES (?, ?) RETURNING id",
                                   (list_name, NOW)).fetchone()[0]
            for start in range(1, n + 1, 50_000):
                conn.executemany(
                    "INSERT INTO subscribers (email, email_key, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                    [(f"user{i}@example.org", f"user{i}@example.org", f"User {i}", NOW, NOW)
                     for i in range(start, min(n, start + 49_999) + 1)])
            conn.execute("INSERT INTO memberships (list_id, subscriber_id, created_at) SELECT ?, id, ? FROM subscribers",
                         (list_id, NOW))
        conn.execute("ANALYZE")
        return int(list_id)
    finally:
        conn.close()


def bench_send(server: pgserver.PostgresServer, recipients: int, latency_ms: float, workers: list[int],
               work: Path) -> None:
    template = server.create_database(prefix="send_template_")
    fill_subscribers(template, recipients)
    issue = work / "bench-issue.md"
    issue.write_text(ISSUE, encoding="utf-8")
    stand_in, port = start_server(SENDGRID_SERVER, str(latency_ms))
    results = {}
    try:
        for count in workers:
            url = server.create_database(template=template.rsplit("/", 1)[1], prefix=f"send{count}_")
            env = {**os.environ, "NEWSLETTER_DATABASE": url, "NEWSLETTER_SECRET_KEY": SECRET,
                   "NEWSLETTER_BACKEND": "sendgrid", "SENDGRID_API_KEY": "SG.bench",
                   "SENDGRID_API_URL": f"http://127.0.0.1:{port}", "NEWSLETTER_ENV_FILE": "/dev/null",
                   "NEWSLETTER_PUBLIC_URL": "https://news.example.org"}
            command = [sys.executable, "-m", "newsletter", "send", str(issue), "--list", "bench", "--yes", "--worker"]
            start = time.perf_counter()
            procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for _ in range(count)]
            outputs = [proc.communicate() for proc in procs]
            seconds = time.perf_counter() - start
            conn = store.connect(url)
            states = dict(conn.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall())
            errors = conn.execute("SELECT state, error, COUNT(*) FROM deliveries WHERE state != 'accepted'"
                                  " GROUP BY state, error").fetchall()
            runs = conn.execute("SELECT id, pid, outcome, started_at, ended_at FROM send_runs").fetchall()
            conn.close()
            if states != {"accepted": recipients} or any(p.returncode for p in procs):
                for proc, (out, err) in zip(procs, outputs, strict=True):
                    print(f"  worker {proc.pid} exit {proc.returncode}: {out.strip()[-400:]} {err.strip()[-600:]}")
                raise SystemExit(f"not all accepted: {states} {[tuple(e) for e in errors]} {[tuple(r) for r in runs]}")
            results[count] = seconds
            print(f"  send, {count} worker(s): {recipients:,} recipients in {seconds:.1f} s "
                  f"= {recipients / seconds:,.0f}/s", flush=True)
            server.drop_database(url)
    finally:
        stand_in.kill()
        stand_in.wait()
    base = results[workers[0]]
    print("send on PostgreSQL, SendGrid stand-in answering after "
          f"{latency_ms:g} ms: " + ", ".join(f"{n} worker(s) {s:.1f} s ({base / s:.2f}x)" for n, s in results.items()))


def bench_import(server: pgserver.PostgresServer, rows: int, work: Path) -> None:
    from newsletter.audience.members import import_csv
    from newsletter.settings import load_settings

    csv = work / "people.csv"
    with csv.open("w", encoding="utf-8") as out:
        out.write("email,name,city\n")
        for i in range(rows):
            out.write(f"person{i}@example.org,Person {i},{('Oslo', 'Bergen', 'Tromsø')[i % 3]}\n")
    times = {}
    for kind, target in (("SQLite", str(work / "import.db")), ("PostgreSQL", server.create_database(prefix="import_"))):
        settings = load_settings({"NEWSLETTER_DATABASE": target, "NEWSLETTER_SECRET_KEY": SECRET}, env_file="/dev/null")
        store.connect(target).close()  # migrations are not the import's time
        start = time.perf_counter()
        result = import_csv(csv, "bench", settings)
        times[kind] = time.perf_counter() - start
        assert result.added == rows, result
        print(f"  import into {kind}: {rows:,} rows in {times[kind]:.1f} s = {rows / times[kind]:,.0f} rows/s", flush=True)
    print(f"subscribers import of {rows:,} rows: SQLite {times['SQLite']:.1f} s, PostgreSQL {times['PostgreSQL']:.1f} s "
          f"({times['PostgreSQL'] / times['SQLite']:.2f}x the SQLite time)")


def bench_events(server: pgserver.PostgresServer, total: int) -> None:
    url = server.create_database(prefix="events_")
    fill_subscribers(url, 10_000, "main")
    conn = store.connect(url)
    with transaction(conn):
        send_id = conn.execute("INSERT INTO sends (slug, html_sha256, list_id, backend, links, created_at)"
                               " VALUES ('bench', 'x', 1, 'sendgrid', '[\"https://example.org/a\"]', ?) RETURNING id",
                               (NOW,)).fetchone()[0]
    conn.close()
    events = make_events(total, send_id)
    for event in events:  # bench/events.py names its subscribers r<i>@; ours are user<i>@
        event["email"] = event["email"].replace("r", "user", 1)
    signer = Signer()
    bodies = [json.dumps(events[i: i + 1000]).encode() for i in range(0, total, 1000)]
    port = pgserver.free_port()
    env = {**os.environ, "NEWSLETTER_DATABASE": url, "NEWSLETTER_SECRET_KEY": SECRET, "NEWSLETTER_ENV_FILE": "/dev/null",
           "SENDGRID_WEBHOOK_PUBLIC_KEY": signer.public, "NEWSLETTER_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    proc = subprocess.Popen([sys.executable, "-m", "newsletter", "serve", "--workers", "2", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        posts = [(body, signer.headers(body)) for body in bodies]

        def post(item: tuple[bytes, dict[str, str]]) -> None:
            answer = httpx.post(f"http://127.0.0.1:{port}/webhooks/sendgrid", content=item[0], headers=item[1],
                                timeout=120)
            answer.raise_for_status()

        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(post, posts))
        seconds = time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(30)
    conn = store.connect(url)
    stored = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    conn.close()
    assert stored == total, stored
    print(f"webhook events through serve --workers 2 on PostgreSQL: {total:,} events in {seconds:.1f} s "
          f"= {total / seconds:,.0f} events/s ({len(bodies)} signed POSTs of 1,000, 4 clients)")


def fill_events(target: str, count: int) -> None:
    """One send to 100,000 subscribers with ``count`` SendGrid-like events."""
    list_id = fill_subscribers(target, 100_000)
    conn = store.connect(target)
    rng = random.Random(1)
    kinds, weights = ["processed", "delivered", "open", "click", "deferred", "bounce", "unsubscribe"], [30, 30, 25, 8, 4, 2, 1]
    with transaction(conn):
        send_id = conn.execute("INSERT INTO sends (slug, list_id, html_sha256, backend, links, created_at)"
                               " VALUES ('s', ?, 'x', 'sendgrid', '[]', ?) RETURNING id", (list_id, NOW)).fetchone()[0]
        conn.execute("INSERT INTO deliveries (send_id, subscriber_id, state, updated_at)"
                     " SELECT ?, id, 'accepted', ? FROM subscribers", (send_id, NOW))
        batch = []
        for n in range(count):
            sub, kind = rng.randint(1, 100_000), rng.choices(kinds, weights)[0]
            raw = json.dumps({"event": kind, "email": f"user{sub}@example.org", "sg_event_id": f"e{n}",
                              "sg_machine_open": n % 3 == 0, "useragent": "Mozilla/5.0"})
            batch.append(("sendgrid", f"e{n}", kind, send_id, sub, f"user{sub}@example.org",
                          f"https://example.org/{n % 20}" if kind == "click" else "", NOW, raw))
            if len(batch) == 20_000 or n == count - 1:
                conn.executemany("INSERT INTO events (source, event_key, type, send_id, subscriber_id, email, url,"
                                 " occurred_at, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
                batch = []
    conn.execute("ANALYZE")
    conn.close()


def bench_stats(server: pgserver.PostgresServer, count: int, work: Path) -> None:
    from newsletter.settings import Settings
    from newsletter.tracking.stats import collect_stats

    for kind, target in (("SQLite", str(work / "stats.db")), ("PostgreSQL", server.create_database(prefix="stats_"))):
        fill_events(target, count)
        if kind == "PostgreSQL":
            conn = store.connect(target)
            conn.execute("VACUUM ANALYZE events")  # what autovacuum does after a load
            conn.close()
        times = []
        for _ in range(3):
            start = time.perf_counter()
            collect_stats(Settings(newsletter_database=target))
            times.append(time.perf_counter() - start)
        print(f"stats of one send with {count:,} events on {kind}: {sorted(times)[1]:.2f} s (median of 3)", flush=True)


def main() -> None:
    """Parse options and run the chosen benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="*", default=["send", "import", "events", "stats"])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--workers", default="1,4")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--stats-events", type=int, default=1_000_000)
    args = parser.parse_args()
    why = pgserver.unavailable()
    if why:
        raise SystemExit(why)
    server = pgserver.PostgresServer(fast=False).start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-postgres-") as tmp:
            work = Path(tmp)
            if "send" in args.which:
                bench_send(server, args.recipients, args.latency_ms, [int(w) for w in args.workers.split(",")], work)
            if "import" in args.which:
                bench_import(server, args.rows, work)
            if "events" in args.which:
                bench_events(server, args.events)
            if "stats" in args.which:
                bench_stats(server, args.stats_events, work)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
