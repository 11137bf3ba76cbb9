"""Scale table: ``subscribers import``, ``events import``, ``stats`` and ``send`` at 10k, 100k and 1M rows.

    .venv/bin/python bench/scale.py [--sizes 10000,100000,1000000] [--runs 3] [--only subscribers,events,stats,send]

Each figure is the median of whole-process runs of the real command
(``python -m newsletter ...``: start-up, imports and the final commit
included), each on a fresh copy of the database, with the peak memory (max
RSS) of those runs. The inputs are written once per size into a temporary
folder:

- a subscribers CSV (email, first_name, last_name, company, city) with a few
  invalid rows, duplicates in another case and role addresses (``info@``);
- a SendGrid event array, one event per line, for one send to 10,000
  subscribers (processed, delivered, opens, clicks, a few bounces and
  unsubscribes), imported into a database that already holds them;
- ``stats`` then runs on the database the events import left;
- ``send`` sends an issue to that many subscribers through the SendGrid
  stand-in of ``bench/send.py`` (compose included, as a user runs it).

Targets (issue 9): 1,000,000 subscribers in under 15 s and 150 MB; 1,000,000
events in under 20 s and 250 MB; a send's memory under 100 MB and flat as the list grows.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "newsletter"]
SUBSCRIBERS_FOR_EVENTS = 10_000
NOW = "2026-11-24T08:00:00Z"


def write_csv(path: Path, rows: int) -> None:
    """A subscribers CSV of ``rows`` data rows: mostly plain, some tricky, a few invalid."""
    rng = random.Random(9)
    domains = ["example.org", "Example.COM", "mail.example.net", "sub.example.co.uk", "example.io"]
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["email", "first_name", "last_name", "company", "city"])
        for n in range(rows):
            roll = rng.random()
            if roll < 0.002:
                email = f"broken{n}.example.org"  # no @: invalid
            elif roll < 0.012 and n > 10:
                email = f"Person{rng.randrange(n)}@EXAMPLE.ORG"  # an earlier address, other case
            elif roll < 0.015:
                email = f"info@team{n}.example.org"  # role address: lower-cased by the validator
            elif roll < 0.017:
                email = f'"first last{n}"@example.org'  # quoted local part: the slow path
            else:
                email = f"person{n}+tag@{rng.choice(domains)}" if roll < 0.1 else f"person{n}@{rng.choice(domains)}"
            writer.writerow([email, f"First{n}", f"Last{n}", f"Company {n % 997}", f"City {n % 101}"])


def write_events(path: Path, count: int) -> None:
    """A SendGrid event array (one event per line) for send 1 to the seeded subscribers."""
    rng = random.Random(4)
    kinds = ["processed", "delivered", "open", "click", "deferred", "bounce", "unsubscribe"]
    weights = [30, 30, 25, 8, 4, 2, 1]
    with path.open("w", encoding="utf-8") as out:
        out.write("[\n")
        for n in range(count):
            sub = rng.randint(1, SUBSCRIBERS_FOR_EVENTS)
            kind = rng.choices(kinds, weights)[0]
            event = {"email": f"r{sub}@example.org", "timestamp": 1795000000 + n, "event": kind,
                     "sg_event_id": f"bench-{n:08d}", "sg_message_id": f"msg-{sub}.filter0001", "send_id": "1",
                     "subscriber_id": str(sub), "useragent": "Mozilla/5.0", "ip": "192.0.2.1"}
            if kind == "click":
                event["url"] = "https://example.org/a"
            if kind == "bounce":
                event.update(type="bounce", reason="550 5.1.1 no such user", status="5.1.1")
            out.write(json.dumps(event) + (",\n" if n < count - 1 else "\n"))
        out.write("]\n")


def seed_for_events(path: Path) -> None:
    """A database with the subscribers, the list and the send the events refer to."""
    subprocess.run(CLI + ["lists"], check=True, stdout=subprocess.DEVNULL, env=env_for(path), cwd=ROOT)  # migrate
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO lists (id, name, created_at) VALUES (1, 'main', ?)", (NOW,))
        conn.executemany(
            "INSERT INTO subscribers (id, email, email_key, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            [(i, f"r{i}@example.org", f"r{i}@example.org", NOW, NOW) for i in range(1, SUBSCRIBERS_FOR_EVENTS + 1)])
        conn.executemany("INSERT INTO memberships (list_id, subscriber_id, created_at) VALUES (1, ?, ?)",
                         [(i, NOW) for i in range(1, SUBSCRIBERS_FOR_EVENTS + 1)])
        conn.execute("INSERT INTO sends (id, slug, html_sha256, list_id, backend, created_at)"
                     " VALUES (1, 'bench', 'x', 1, 'sendgrid', ?)", (NOW,))
        # The send's ledger: every member accepted (the events that follow are about these messages).
        conn.execute("INSERT INTO deliveries (send_id, subscriber_id, state, attempts, updated_at)"
                     " SELECT 1, subscriber_id, 'accepted', 1, ? FROM memberships WHERE list_id = 1", (NOW,))
    conn.close()


def env_for(database: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a run: its own database, no .env file."""
    return {**os.environ, "NEWSLETTER_DATABASE": str(database), "NEWSLETTER_ENV_FILE": os.devnull,
            "NEWSLETTER_SECRET_KEY": "bench-secret-key-0123456789abcdef", **(extra or {})}


def run_once(args: list[str], database: Path, extra: dict[str, str] | None = None) -> tuple[float, float]:
    """One whole-process run: ``(wall seconds, peak RSS in MB)``; fails loudly if the command fails."""
    start = time.perf_counter()
    child = subprocess.Popen(CLI + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env_for(database, extra),
                             cwd=ROOT)
    assert child.stderr is not None
    err = child.stderr.read()  # invalid rows are reported here; read so the pipe never fills
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({child.returncode}): {err.decode()[-500:]}")
    return wall, usage.ru_maxrss / 1024


def measure(label: str, args: list[str], template: Path | None, work: Path, runs: int,
            extra: dict[str, str] | None = None) -> tuple[float, float]:
    """Median wall time and peak memory of ``runs`` runs, each on a fresh copy of ``template``."""
    walls, peaks = [], []
    for _ in range(runs):
        database = work / "run.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        if template is not None:
            shutil.copy(template, database)
        wall, peak = run_once(args, database, extra)
        walls.append(wall)
        peaks.append(peak)
    return statistics.median(walls), max(peaks)


def measure_send(size: int, work: Path, runs: int) -> tuple[float, float]:
    """``newsletter send`` of the bench issue to ``size`` subscribers through the SendGrid stand-in of
    ``bench/send.py`` (no added latency; compose included, as a user runs it)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import send as send_bench  # bench/send.py: its stand-in server, issue and database builder

    template = work / f"send-{size}.db"
    send_bench.make_database(template, size)
    issue = work / "bench-issue.md"
    issue.write_text(send_bench.ISSUE, encoding="utf-8")
    server, port = send_bench.start_server(send_bench.SENDGRID_SERVER, "0")
    extra = {"NEWSLETTER_BACKEND": "sendgrid", "SENDGRID_API_KEY": "SG.bench",
             "SENDGRID_API_URL": f"http://127.0.0.1:{port}", "NEWSLETTER_PUBLIC_URL": "https://news.example.org"}
    try:
        return measure("send", ["send", str(issue), "--list", "bench", "--yes"], template, work, runs, extra)
    finally:
        server.kill()
        server.wait()
        template.unlink()


def main() -> None:
    """Build the inputs, run the commands, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="subscribers,events,stats,send")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    only = set(args.only.split(","))
    rows: list[tuple[str, int, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        seeded = work / "seeded.db"
        seed_for_events(seeded)
        for size in sizes:
            if "subscribers" in only:
                csv_path = work / f"subscribers-{size}.csv"
                write_csv(csv_path, size)
                wall, peak = measure("subscribers", ["subscribers", "import", str(csv_path), "--list", "bench"],
                                     None, work, args.runs)
                rows.append(("subscribers import", size, wall, peak))
                print(f"subscribers import {size:>9,}: {wall:6.2f} s {peak:6.0f} MB", flush=True)
                csv_path.unlink()
            if only & {"events", "stats"}:
                events_path = work / f"events-{size}.json"
                write_events(events_path, size)
                wall, peak = measure("events", ["events", "import", str(events_path)], seeded, work, args.runs)
                if "events" in only:
                    rows.append(("events import", size, wall, peak))
                    print(f"events import      {size:>9,}: {wall:6.2f} s {peak:6.0f} MB", flush=True)
                events_path.unlink()
                if "stats" in only:  # on the database the last events import left
                    after = work / "after-events.db"
                    shutil.copy(work / "run.db", after)
                    wall, peak = measure("stats", ["stats", "--json"], after, work, args.runs)
                    rows.append(("stats", size, wall, peak))
                    print(f"stats              {size:>9,}: {wall:6.2f} s {peak:6.0f} MB", flush=True)
            if "send" in only:
                wall, peak = measure_send(size, work, args.runs)
                rows.append(("send (SendGrid)", size, wall, peak))
                print(f"send (SendGrid)    {size:>9,}: {wall:6.2f} s {peak:6.0f} MB", flush=True)
    print(f"\nmedian of {args.runs} whole-process runs, peak = max RSS of those runs\n")
    print(f"| {'command':<18} | {'rows':>9} | {'wall (s)':>8} | {'peak (MB)':>9} |")
    print(f"|{'-' * 20}|{'-' * 10}:|{'-' * 9}:|{'-' * 10}:|")
    for name, size, wall, peak in rows:
        print(f"| {name:<18} | {size:>9,} | {wall:>8.2f} | {peak:>9.0f} |")


if __name__ == "__main__":
    main()
