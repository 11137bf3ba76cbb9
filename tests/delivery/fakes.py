"""Local stand-ins for the providers: a SendGrid v3 mail-send server and an aiosmtpd sink.

``SendGridStandIn`` speaks enough of ``POST /v3/mail/send`` for our backend,
checks *every* request against SendGrid's documented limits (a violation is
answered 400 and recorded in ``violations``, which tests assert is empty) and
can inject faults, one per request, from ``faults``:

- ``"429"`` (with ``X-RateLimit-Reset``), ``"500"``/``"502"``/``"503"``/``"504"``, ``"400"``,
  ``"401"``, ``"403"``, ``"413"``: answer that status without accepting anything;
- ``"500-after"``, ``"502-after"``: accept the messages, then answer that status (a gateway);
- ``"drop"``: close the connection without answering or accepting;
- ``"drop-after"``: accept the messages, then close without answering;
- ``"timeout"``: accept, then answer only after ``slow_s`` seconds;
- ``"hang"``: accept, set ``hung``, and answer only when ``release`` is set;
- ``"hang-before"``: like ``"hang"`` but without accepting anything.

``too_large_over``: answer 413 to requests with more personalizations.
``delivered`` counts accepted messages per address.

Scheduled sends, as SendGrid documents them: ``POST /v3/mail/batch`` makes a
batch id (``GET /v3/mail/batch/{id}`` validates one); a mail-send request with
``send_at`` (at most 72 hours ahead, by ``clock``) and a known ``batch_id`` is
accepted but held in ``scheduled`` until ``release_due()`` is called at or after
its time; ``POST /v3/user/scheduled_sends`` (and ``PATCH``/``DELETE``/``GET`` on
``/v3/user/scheduled_sends/{id}``) cancels, pauses or resumes a batch, refused
with 400 later than 10 minutes before ``send_at``. A cancelled batch is never
released (``discarded`` counts its messages); a paused one is held.
``delay_s``: wait this long before answering each request (a provider's latency);
``latency_s``: wait this long after reading each request, before anything else (a round trip).
``delivered`` counts accepted messages per address; ``hung_request`` is the
body of the request a ``"hang"`` fault holds.
``tap(stage, body)``, if set, is called outside the lock at three moments
of each request: ``"request"`` (received; a string it returns replaces the
request's fault), ``"accepted"`` (the messages are taken, the answer is not
sent yet) and ``"answered"`` (after a 202). Tests use it to act at an exact moment (kill the
client, stall).
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.helpers import wait_until

API_KEY = "SG.test-key-not-real"


class SendGridStandIn:
    """A threaded local HTTP server; use ``url`` as ``SENDGRID_API_URL``."""

    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.faults: list[str | None] = []
        self.too_large_over = 0
        self.slow_s = 5.0
        self.latency_s = 0.0  # waited after reading every request (a provider's round trip)
        self.active = 0  # requests being handled right now
        self.max_active = 0
        self.arrivals: list[float] = []  # time.monotonic() of each request
        self.delay_s = 0.0
        self.hung_request: dict[str, Any] | None = None
        self.requests: list[dict[str, Any]] = []
        self.accepted: list[dict[str, Any]] = []  # one per accepted personalization, with the request body
        self.delivered: Counter[str] = Counter()
        self.violations: list[str] = []
        self.statuses: list[int] = []
        self.clock = time.time  # SendGrid's own clock: tests replace it with theirs
        self.batches: dict[str, str] = {}  # batch id -> '' (none), 'cancel' or 'pause'
        self.scheduled: list[dict[str, Any]] = []  # held messages: {email, send_at, batch_id, personalization}
        self.discarded: Counter[str] = Counter()
        self.hung = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.tap: Callable[[str, dict[str, Any]], str | None] | None = None
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                stand_in._handle(self)

            def do_GET(self) -> None:
                stand_in._handle_batches(self, "GET")

            def do_PATCH(self) -> None:
                stand_in._handle_batches(self, "PATCH")

            def do_DELETE(self) -> None:
                stand_in._handle_batches(self, "DELETE")

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> SendGridStandIn:
        """Serve in a background thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free any hung handler."""
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    # --- the API ---------------------------------------------------------------

    def _answer(self, h: BaseHTTPRequestHandler, status: int, body: dict | None = None, headers: dict | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        h.send_response(status)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(data)))
        if data:
            h.send_header("Content-Type", "application/json")
        h.end_headers()
        h.wfile.write(data)
        with self.lock:
            self.statuses.append(status)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.arrivals.append(time.monotonic())
        try:
            self._serve(h)
        finally:
            with self.lock:
                self.active -= 1

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        if h.path != "/v3/mail/send":
            return self._handle_batches(h, "POST")
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length)
        if len(raw) < length:  # the client went away mid-request (killed): nothing to process
            h.close_connection = True
            return None
        try:
            body = json.loads(raw)
        except ValueError:
            self.violations.append("body is not JSON")
            return self._answer(h, 400, {"errors": [{"message": "invalid JSON"}]})
        if self.latency_s:  # before anything is decided, so that requests overlap whatever their answer
            self.release.wait(self.latency_s)
        with self.lock:
            self.requests.append(body)
            fault = self.faults.pop(0) if self.faults else None
        if self.tap is not None:
            fault = self.tap("request", body) or fault
        if h.headers.get("Authorization") != f"Bearer {self.api_key}" or fault == "401":
            return self._answer(h, 401, {"errors": [{"message": "The provided authorization grant is invalid"}]})
        if fault == "403":
            return self._answer(h, 403, {"errors": [{"message": "access forbidden"}]})
        problems = check_request(body) + self._check_schedule(body)
        if problems:
            self.violations.extend(problems)
            return self._answer(h, 400, {"errors": [{"message": p} for p in problems]})
        if fault == "400":
            return self._answer(h, 400, {"errors": [{"message": "invalid request", "field": "personalizations"}]})
        count = len(body["personalizations"])
        if fault == "413" or (self.too_large_over and count > self.too_large_over):
            return self._answer(h, 413, {"errors": [{"message": "payload too large"}]})
        if fault == "400":
            return self._answer(h, 400, {"errors": [{"message": "injected bad request", "field": "from"}]})
        if fault == "429":
            return self._answer(h, 429, {"errors": [{"message": "too many requests"}]},
                                {"X-RateLimit-Reset": str(int(time.time()))})
        if fault in ("500", "502", "503", "504"):  # before the body was processed: nothing taken
            return self._answer(h, int(fault), {"errors": [{"message": "server error"}]})
        if fault == "drop":
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return None
        if fault == "hang-before":  # received, never processed
            self.hung.set()
            self.release.wait(120)
            h.close_connection = True
            return None
        self._accept(body)
        if self.tap is not None:
            self.tap("accepted", body)
        if fault in ("500-after", "502-after"):  # a gateway's error after the provider took the mail
            return self._answer(h, int(fault[:3]), {"errors": [{"message": "bad gateway"}]})
        if fault == "drop-after":
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return None
        if fault == "timeout":
            time.sleep(self.slow_s)
        if fault == "hang":
            self.hung_request = body
            self.hung.set()
            self.release.wait(120)
            h.close_connection = True
            return None
        if self.delay_s:
            time.sleep(self.delay_s)
        self._answer(h, 202, None, {"X-Message-Id": f"msg-{len(self.requests)}"})
        if self.tap is not None:
            self.tap("answered", body)

    def _accept(self, body: dict[str, Any]) -> None:
        later = body.get("send_at", 0) > self.clock()
        with self.lock:
            for p in body["personalizations"]:
                for to in p["to"]:
                    if later:
                        self.scheduled.append({"email": to["email"].lower(), "send_at": body["send_at"],
                                               "batch_id": body.get("batch_id", ""), "personalization": p})
                    else:
                        self.delivered[to["email"].lower()] += 1
                self.accepted.append({"personalization": p, "body": body})

    # --- scheduled sends ---------------------------------------------------------

    def _check_schedule(self, body: dict[str, Any]) -> list[str]:
        problems = []
        if "send_at" in body:
            send_at = body["send_at"]
            if not isinstance(send_at, int):
                problems.append(f"send_at must be a UNIX timestamp (integer), got {send_at!r}")
            elif send_at > self.clock() + 72 * 3600:
                problems.append("send_at is more than 72 hours ahead")
        if "batch_id" in body and body["batch_id"] not in self.batches:
            problems.append(f"batch_id {body['batch_id']!r} was never created")
        return problems

    def release_due(self) -> int:
        """Deliver held messages whose send_at has come (cancelled batches: discarded; paused: held)."""
        released = 0
        with self.lock:
            held = []
            for item in self.scheduled:
                status = self.batches.get(item["batch_id"], "")
                if item["send_at"] > self.clock() or status == "pause":
                    held.append(item)
                elif status == "cancel":
                    self.discarded[item["email"]] += 1
                else:
                    self.delivered[item["email"]] += 1
                    released += 1
            self.scheduled = held
        return released

    def _too_late(self, batch_id: str) -> bool:
        times = [i["send_at"] for i in self.scheduled if i["batch_id"] == batch_id]
        return bool(times) and min(times) - self.clock() < 600

    def _handle_batches(self, h: BaseHTTPRequestHandler, method: str) -> None:
        import secrets

        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        if h.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._answer(h, 401, {"errors": [{"message": "The provided authorization grant is invalid"}]})
        parts = h.path.strip("/").split("/")
        body = json.loads(raw) if raw else {}
        if parts == ["v3", "mail", "batch"] and method == "POST":
            batch_id = secrets.token_hex(16)
            with self.lock:
                self.batches[batch_id] = ""
            return self._answer(h, 201, {"batch_id": batch_id})
        if parts[:3] == ["v3", "mail", "batch"] and len(parts) == 4 and method == "GET":
            if parts[3] not in self.batches:
                return self._answer(h, 400, {"errors": [{"message": "invalid batch id"}]})
            return self._answer(h, 200, {"batch_id": parts[3]})
        if parts[:3] != ["v3", "user", "scheduled_sends"]:
            return self._answer(h, 404, {"errors": [{"message": "not found"}]})
        batch_id = parts[3] if len(parts) == 4 else str(body.get("batch_id", ""))
        if batch_id not in self.batches:
            return self._answer(h, 400, {"errors": [{"message": "invalid batch id"}]})
        if method == "GET":
            status = self.batches[batch_id]
            return self._answer(h, 200, [{"batch_id": batch_id, "status": status}] if status else [])
        if method == "DELETE":
            with self.lock:
                self.batches[batch_id] = ""
            return self._answer(h, 204)
        status = body.get("status")
        if status not in ("cancel", "pause"):
            return self._answer(h, 400, {"errors": [{"message": "status must be cancel or pause"}]})
        if method == "POST" and self.batches[batch_id]:
            return self._answer(h, 400, {"errors": [{"message": "batch already has a status: use PATCH"}]})
        if self._too_late(batch_id):
            return self._answer(h, 400, {"errors": [{"message": "too close to send_at: scheduled sends can only be "
                                                                "cancelled or paused until 10 minutes before"}]})
        with self.lock:
            self.batches[batch_id] = status
        return self._answer(h, 201 if method == "POST" else 204, {"batch_id": batch_id, "status": status}
                            if method == "POST" else None)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # Answering a client that went away (killed, timed out) fails: expected here.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def check_request(body: dict[str, Any]) -> list[str]:
    """Every documented limit this request breaks (empty when it is fine)."""
    problems = []
    ps = body.get("personalizations") or []
    if not 1 <= len(ps) <= 1000:
        problems.append(f"personalizations: {len(ps)} (must be 1..1000)")
    seen: set[str] = set()
    for i, p in enumerate(ps):
        for to in p.get("to") or []:
            email = str(to.get("email", "")).lower()
            if email in seen:
                problems.append(f"personalizations[{i}]: {email} appears twice in one request")
            seen.add(email)
            if any(c in to.get("name", "") for c in ";,"):
                problems.append(f"personalizations[{i}]: name with ';' or ','")
        if not p.get("to"):
            problems.append(f"personalizations[{i}]: no 'to'")
        if "subject" in p and not (isinstance(p["subject"], str) and p["subject"].strip()
                                   and not any(c in p["subject"] for c in "\r\n")):
            problems.append(f"personalizations[{i}]: subject {p['subject']!r} (a non-empty line)")
        subs = p.get("substitutions") or {}
        size = sum(len(k.encode()) + len(str(v).encode()) for k, v in subs.items())
        if size >= 10_000:
            problems.append(f"personalizations[{i}]: substitutions {size} bytes")
        for k, v in (p.get("custom_args") or {}).items():
            if not isinstance(v, str):
                problems.append(f"personalizations[{i}]: custom_args {k} is not a string")
    categories = body.get("categories") or []
    if len(categories) > 10 or len(set(categories)) != len(categories):
        problems.append(f"categories: {categories!r}")
    types = [c.get("type") for c in body.get("content") or []]
    if types[:2] != ["text/plain", "text/html"]:
        problems.append(f"content order: {types}")
    if not (body.get("from") or {}).get("email"):
        problems.append("no from.email")
    if not body.get("subject"):
        problems.append("no subject")
    return problems


# --- SMTP -----------------------------------------------------------------------


class RecordingHandler:
    """aiosmtpd handler keeping every message it takes, refusing chosen addresses.

    ``refuse`` (at RCPT) and ``refuse_data`` (the final reply after DATA) map an
    address to a reply: a string (a 4xx is given once, then the address is
    accepted; a 5xx every time) or a list of replies given one per attempt, then
    accepted. A refusal after DATA means the server did not take the message:
    it is not kept.

    ``tap(stage, address)``, if set, is called for each message at ``"data"``
    (received, not yet kept: returning ``"drop"`` refuses it with 421,
    ``"hang"`` stalls until ``release`` is set, then refuses it with 421),
    ``"taken"`` (kept, reply not sent) and ``"answered"`` (just after the 250
    reply was queued). It runs in a worker thread, so it may block.
    """

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse: dict[str, str | list[str]] = {}
        self.refuse_data: dict[str, str | list[str]] = {}
        self.hang_after: int | None = None  # accept this many, then stall DATA replies
        self.hung = threading.Event()
        self.release = threading.Event()
        self.tap: Callable[[str, str], str | None] | None = None

    @staticmethod
    def _refusal(table: dict[str, str | list[str]], address: str) -> str | None:
        key = address.lower()
        reply = table.get(key)
        if isinstance(reply, list):
            if not reply:
                table.pop(key)
                return None
            return reply.pop(0)
        if reply and reply.startswith("4"):
            table.pop(key)  # a temporary refusal: accept next time
        return reply

    async def _tap(self, stage: str, address: str) -> str | None:
        if self.tap is None:
            return None
        return await asyncio.get_running_loop().run_in_executor(None, self.tap, stage, address)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd API)
        reply = self._refusal(self.refuse, address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
        if self.hang_after is not None and len(self.messages) >= self.hang_after:
            self.hung.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "421 closing"
        address = envelope.rcpt_tos[0] if envelope.rcpt_tos else ""
        action = await self._tap("data", address)
        if action == "hang":
            self.hung.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 120)
        if action in ("drop", "hang"):
            return "421 4.3.0 closing, message not taken"
        refusal = self._refusal(self.refuse_data, address)
        if refusal:
            return refusal
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        await self._tap("taken", address)
        if self.tap is not None:
            asyncio.get_running_loop().call_soon(self.tap, "answered", address)
        return "250 OK queued"

    def delivered(self) -> Counter:
        """Messages received per recipient address."""
        return Counter(r.lower() for _, rcpts, _ in self.messages for r in rcpts)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_env(config) -> dict[str, str]:
    """Environment variables reproducing ``config`` (for the CLI and subprocesses)."""
    from dataclasses import fields

    env = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if isinstance(value, bool):
            value = "1" if value else "0"
        env[f.name.upper()] = str(value)
    return env


def send(issue, config, list_name: str = "news", **options):
    """``send_issue`` with ``SendOptions(list_name, **options)`` (the engine's entry point, as the CLI calls it)."""
    from newsletter.delivery.plan import SendOptions
    from newsletter.delivery.send import send_issue

    return send_issue(issue, SendOptions(list_name, **options), config)


def start_send(config, issue, *extra: str):
    """``newsletter send ISSUE --list news --yes ...`` in a subprocess with ``config`` (text output)."""
    import os
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", "newsletter", "send", str(issue), "--list", "news", "--yes", *extra],
        env={**os.environ, **settings_env(config)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for(condition, proc, timeout: float = 60) -> None:
    """Poll ``condition`` until true; fail if ``proc`` ends first or ``timeout`` passes."""
    wait_until(condition, timeout, message="the condition never came true",
               abort=lambda: f"the process ended early: {proc.communicate()}" if proc.poll() is not None else None)


def rows(database: str, sql: str, *params) -> list[tuple]:
    """The rows of one query on ``database`` (SQLite file or PostgreSQL URL), as tuples."""
    from newsletter.store import connect

    conn = connect(database, migrate_schema=False)
    try:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def table_counts(database: str, *tables: str) -> tuple[int, ...]:
    """How many rows each of ``tables`` holds."""
    return tuple(rows(database, f"SELECT COUNT(*) FROM {t}")[0][0] for t in tables)
