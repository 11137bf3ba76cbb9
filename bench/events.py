"""Benchmark: ingesting SendGrid events through the real tracking server.

100,000 events as 100 signed webhook POSTs of 1,000 (SendGrid's batch size),
sent over loopback HTTP to ``create_app`` served by uvicorn, into a fresh
SQLite database with 10,000 subscribers. Target: under 10 s per run.

    .venv/bin/python bench/events.py [--runs 3] [--events 100000] [--batch 1000]

Prints each run, the median of whole runs and the peak memory (RSS) of the process.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import resource
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from newsletter.server.app import create_app
from newsletter.settings import Settings
from newsletter.store import connect

SUBSCRIBERS = 10_000
NOW = "2026-11-24T08:00:00Z"


def seed(db: Path) -> int:
    """Subscribers, a list and one send; returns the send id."""
    conn = connect(db)
    conn.execute("BEGIN")
    list_id = conn.execute("INSERT INTO lists (name, created_at) VALUES ('main', ?)", (NOW,)).lastrowid
    conn.executemany(
        "INSERT INTO subscribers (id, email, email_key, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        [(i, f"r{i}@example.org", f"r{i}@example.org", NOW, NOW) for i in range(1, SUBSCRIBERS + 1)])
    conn.executemany("INSERT INTO memberships (list_id, subscriber_id, created_at) VALUES (?, ?, ?)", [(list_id, i, NOW) for i in range(1, SUBSCRIBERS + 1)])
    send_id = conn.execute(
        "INSERT INTO sends (slug, html_sha256, list_id, backend, links, created_at)"
        " VALUES ('bench', 'x', ?, 'sendgrid', '[\"https://example.org/a\"]', ?)", (list_id, NOW)).lastrowid
    conn.execute("COMMIT")
    conn.close()
    return send_id


def make_events(count: int, send_id: int) -> list[dict]:
    """A realistic mix: processed/delivered for everyone, some opens, clicks and a few bounces."""
    rng = random.Random(4)
    kinds = ["processed", "delivered", "delivered", "open", "open", "click", "deferred", "bounce", "unsubscribe"]
    weights = [30, 30, 0, 25, 0, 8, 4, 2, 1]
    events = []
    for n in range(count):
        sub = rng.randint(1, SUBSCRIBERS)
        kind = rng.choices(kinds, weights)[0]
        event = {"email": f"r{sub}@example.org", "timestamp": 1795000000 + n, "event": kind,
                 "sg_event_id": f"bench-{n:08d}", "sg_message_id": f"msg-{sub}.filter0001", "send_id": str(send_id),
                 "subscriber_id": str(sub), "useragent": "Mozilla/5.0", "ip": "192.0.2.1"}
        if kind == "click":
            event["url"] = "https://example.org/a"
        if kind == "bounce":
            event.update(type="bounce", reason="550 5.1.1 no such user", status="5.1.1")
        events.append(event)
    return events


class Signer:
    """Signs bodies like SendGrid does (ECDSA P-256 over timestamp + body)."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public = base64.b64encode(der).decode()

    def headers(self, body: bytes) -> dict[str, str]:
        ts = str(int(time.time()))
        sig = base64.b64encode(self.key.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
        return {"X-Twilio-Email-Event-Webhook-Signature": sig, "X-Twilio-Email-Event-Webhook-Timestamp": ts,
                "Content-Type": "application/json"}


def one_run(total: int, batch: int) -> tuple[float, int]:
    """Time posting ``total`` events in batches to a fresh server; returns (seconds, rows stored)."""
    signer = Signer()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        send_id = seed(db)
        settings = Settings(newsletter_database=str(db), newsletter_secret_key="bench-secret-key-0123456789",
                            sendgrid_webhook_public_key=signer.public)
        events = make_events(total, send_id)
        bodies = [json.dumps(events[i : i + batch]).encode() for i in range(0, total, batch)]
        posts = [(body, signer.headers(body)) for body in bodies]  # SendGrid's work, not ours: untimed

        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto
        # says TCP; a bare socket.socket() would add a 40 ms delayed-ACK stall per request.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
                start = time.perf_counter()
                for body, headers in posts:
                    answer = http.post("/webhooks/sendgrid", content=body, headers=headers)
                    answer.raise_for_status()
                elapsed = time.perf_counter() - start
        finally:
            server.should_exit = True
            thread.join(timeout=30)
            sock.close()
        conn = connect(db)
        stored = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        conn.close()
    return elapsed, stored


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()
    times = []
    for run in range(1, args.runs + 1):
        elapsed, stored = one_run(args.events, args.batch)
        if stored != args.events:
            raise SystemExit(f"run {run}: stored {stored} of {args.events} events")
        times.append(elapsed)
        print(f"run {run}: {args.events:,} events in {elapsed:.2f} s ({args.events / elapsed:,.0f} events/s)")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    median = statistics.median(times)
    verdict = "OK" if median < 10 else "SLOWER THAN TARGET"
    print(f"events ingest: median {median:.2f} s for {args.events:,} events "
          f"({args.events // args.batch} signed POSTs of {args.batch:,}); target < 10 s: {verdict}")
    print(f"peak memory (RSS, whole process incl. server): {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
