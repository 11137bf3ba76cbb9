"""Benchmark ``send``: N subscribers through the SendGrid backend and through SMTP.

    python bench/send.py [--n 100000] [--smtp-n 10000] [--runs 3] [--aiosmtpd]
                         [--latency-ms 100] [--concurrency 1,4,8] [--only sendgrid|smtp]

Each run gets a fresh copy of a database holding the subscribers, then one
``send_issue`` (compose excluded) runs in a child process against a local
server in another process: a minimal stand-in for SendGrid's v3 mail send,
and a minimal SMTP sink (or aiosmtpd with ``--aiosmtpd``; it is the
bottleneck then, at a few hundred messages/s). Prints recipients per second
and the child's peak memory (ru_maxrss, whole process), and the wall time of
the whole child process (start-up, imports and compose included); medians.
Aims: SendGrid path 100,000 in < 2 s, and < 4 s with ``--latency-ms 100``,
under 100 MB; SMTP >= 2,000/s. ``--concurrency 1,4,8`` compares requests
in flight side by side in one run.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-key-0123456789abcdef"
ISSUE = """---
title: "Benchmark issue"
seo:
  url: https://news.example.org/blog/bench
  description: A benchmark
category:
  - value: news
    label: News
---
Hello %%name%%, welcome to this issue.

Read [the post](https://news.example.org/blog/post) and [the docs](https://docs.example.org/start).

""" + "\n\n".join(f"Paragraph {i} with some text about the project and its people." for i in range(40)) + "\n"

# argv[1]: milliseconds added to each answer (a provider's latency; 0 by default).
SENDGRID_SERVER = r"""
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
LATENCY = float(sys.argv[1]) / 1000 if len(sys.argv) > 1 else 0.0
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert len(body["personalizations"]) <= 1000
        if LATENCY:
            time.sleep(LATENCY)  # a real provider's round trip
        self.send_response(202); self.send_header("Content-Length", "0"); self.end_headers()
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""

# A minimal SMTP sink: enough of the protocol for smtplib, no parsing of the data.
SMTP_SINK = r"""
import asyncio
class Sink(asyncio.Protocol):
    def connection_made(self, t):
        self.t, self.buf, self.data = t, b"", False
        t.write(b"220 sink ready\r\n")
    def data_received(self, chunk):
        self.buf += chunk
        while True:
            if self.data:
                end = self.buf.find(b"\r\n.\r\n")
                if end < 0:
                    return
                self.buf, self.data = self.buf[end + 5:], False
                self.t.write(b"250 queued\r\n")
                continue
            line, sep, rest = self.buf.partition(b"\r\n")
            if not sep:
                return
            self.buf, verb = rest, line[:4].upper()
            if verb == b"DATA":
                self.data = True
                self.t.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                self.t.write(b"221 bye\r\n"); self.t.close()
            elif verb == b"EHLO":
                self.t.write(b"250-sink\r\n250 8BITMIME\r\n")
            else:
                self.t.write(b"250 OK\r\n")
async def main():
    server = await asyncio.get_running_loop().create_server(Sink, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""

AIOSMTPD_SERVER = r"""
import socket, time
from aiosmtpd.controller import Controller
class H:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
c = Controller(H(), hostname="127.0.0.1", port=port); c.start()
print(port, flush=True)
time.sleep(3600)
"""


def make_database(path: Path, n: int) -> None:
    """``n`` active subscribers on list 'bench'."""
    sys.path.insert(0, str(ROOT))
    from newsletter.store import connect, transaction

    conn = connect(path)
    now = "2026-11-24T00:00:00Z"
    with transaction(conn):
        conn.execute("INSERT INTO lists (name, created_at) VALUES ('bench', ?)", (now,))
        conn.executemany(
            "INSERT INTO subscribers (id, email, email_key, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            ((i, f"user{i}@example.org", f"user{i}@example.org", f"User {i}", now, now) for i in range(1, n + 1)),
        )
        conn.execute("INSERT INTO memberships (list_id, subscriber_id, created_at) SELECT 1, id, ? FROM subscribers", (now,))
    conn.close()


def child(args: argparse.Namespace) -> None:
    """Run one send in this process and print seconds, count and peak memory as JSON."""
    sys.path.insert(0, str(ROOT))
    from newsletter.compose import compose_issue
    from newsletter.delivery.plan import SendOptions
    from newsletter.delivery.send import send_issue
    from newsletter.settings import load_settings

    env = {
        "NEWSLETTER_DATABASE": args.db, "NEWSLETTER_SECRET_KEY": SECRET, "NEWSLETTER_BACKEND": args.child,
        "SENDGRID_API_KEY": "SG.bench", "SENDGRID_API_URL": f"http://127.0.0.1:{args.port}",
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(args.port), "NEWSLETTER_OUTBOX": args.outbox,
        "NEWSLETTER_CONCURRENCY": str(args.concurrency),
        "NEWSLETTER_PUBLIC_URL": "https://news.example.org",  # a real send refuses a loopback one
    }
    settings = load_settings(env, env_file="/dev/null")
    result = compose_issue(Path(args.issue), settings)
    start = time.perf_counter()
    report = send_issue(args.issue, SendOptions("bench"), settings, result=result)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "accepted": report.accepted, "failed": report.failed,
                      "in_doubt": report.in_doubt, "peak_mb": peak_mb}))


def start_server(code: str, *args: str) -> tuple[subprocess.Popen, int]:
    """Run a stand-in server's ``code`` in a child process; returns it and the port it listens on."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline())


def run(backend: str, n: int, runs: int, server_code: str, work: Path, issue: Path, *,
        latency: float = 0.0, concurrency: int = 4) -> None:
    template = work / f"{backend}-{n}-template.db"
    if not template.exists():
        make_database(template, n)
    rates, peaks, walls = [], [], []
    server, port = start_server(server_code, str(latency * 1000))
    label = f"{backend} (latency {latency * 1000:.0f} ms, {concurrency} in flight)" if backend == "sendgrid" else backend
    try:
        for i in range(runs):
            db = work / f"{backend}-{i}.db"
            shutil.copy(template, db)
            wall_start = time.perf_counter()
            out = subprocess.run(
                [sys.executable, __file__, "--child", backend, "--db", str(db), "--port", str(port),
                 "--issue", str(issue), "--outbox", str(work / "outbox"), "--concurrency", str(concurrency)],
                capture_output=True, text=True, check=True,
            )
            wall = time.perf_counter() - wall_start  # whole process: start-up, imports, compose, send
            r = json.loads(out.stdout.strip().splitlines()[-1])
            assert r["accepted"] == n and not r["failed"] and not r["in_doubt"], r
            rates.append(n / r["seconds"])
            peaks.append(r["peak_mb"])
            walls.append(wall)
            print(f"  {label} run {i + 1}: {n} in {r['seconds']:.2f} s = {n / r['seconds']:,.0f}/s "
                  f"(whole process {wall:.2f} s), peak {r['peak_mb']:.0f} MB")
    finally:
        server.kill()
        server.wait()
    median = statistics.median(rates)
    print(f"{label}: {n} recipients, median {median:,.0f} recipients/s ({n / median:.2f} s), "
          f"median whole process {statistics.median(walls):.2f} s, median peak {statistics.median(peaks):.0f} MB")


def main() -> None:
    """Parse options and run both benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="subscribers for the SendGrid path")
    parser.add_argument("--smtp-n", type=int, default=10_000, help="subscribers for the SMTP path")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--aiosmtpd", action="store_true", help="use aiosmtpd as the SMTP server")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="the SendGrid stand-in waits this long before each answer (a real round trip)")
    parser.add_argument("--concurrency", default="4",
                        help="requests in flight; a comma-separated list runs each side by side, e.g. 1,4,8")
    parser.add_argument("--only", choices=("sendgrid", "smtp"), help="run one of the two paths")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--issue", help=argparse.SUPPRESS)
    parser.add_argument("--outbox", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory(prefix="bench-send-") as tmp:
        work = Path(tmp)
        issue = work / "bench-issue.md"
        issue.write_text(ISSUE, encoding="utf-8")
        if args.only != "smtp":
            for concurrency in (int(c) for c in str(args.concurrency).split(",")):
                run("sendgrid", args.n, args.runs, SENDGRID_SERVER, work, issue,
                    latency=args.latency_ms / 1000, concurrency=concurrency)
        if args.only != "sendgrid":
            run("smtp", args.smtp_n, args.runs, AIOSMTPD_SERVER if args.aiosmtpd else SMTP_SINK, work, issue)


if __name__ == "__main__":
    main()
