"""The SMTP backend: a few reused connections in parallel, per-recipient outcomes.

Each batch is split across up to ``SMTP_CONNECTIONS`` connections, each
driven by its own thread (sending is I/O bound). Every message is its own
SMTP transaction, so the server's answer is per recipient: 4xx means try
again later (``retry``), 5xx means refused for good (``failed``). A
connection lost before DATA means the message did not go out (``retry``, on
a new connection); lost during or after DATA it may have (``in_doubt``).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from newsletter.delivery.base import ACCEPTED, FAILED, IN_DOUBT, RETRY, BatchResult, MessageBackend, Outcome, Recipient
from newsletter.errors import AuthError, ConfigError, DeliveryError, NewsletterError

SECURITY = ("starttls", "ssl", "none")


def _reply_text(reply: Any) -> str:
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    return str(reply)


class SMTPBackend(MessageBackend):
    """Sends through an SMTP server (``SMTP_HOST``/``SMTP_PORT``/``SMTP_SECURITY``/login)."""

    name = "smtp"
    max_batch = 200

    def __init__(self, settings: Any, build, envelope_from: str) -> None:
        """``build(recipient) -> (message_id, bytes)``; ``envelope_from`` is the MAIL FROM address."""
        if settings.smtp_security not in SECURITY:
            raise ConfigError(f"must be one of {', '.join(SECURITY)}", subject="SMTP_SECURITY")
        if not settings.smtp_host:
            raise ConfigError("is not set", subject="SMTP_HOST")
        self.settings = settings
        self.build = build
        self.envelope_from = envelope_from
        self.workers = max(1, int(settings.smtp_connections))
        self._idle: list[smtplib.SMTP] = []
        self._pool: ThreadPoolExecutor | None = None

    @property
    def where(self) -> str:
        """``host:port`` for messages."""
        return f"{self.settings.smtp_host}:{self.settings.smtp_port}"

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.smtp_security == "ssl":
                conn = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout, context=ssl.create_default_context())
            else:
                conn = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
                if s.smtp_security == "starttls":
                    conn.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                conn.login(s.smtp_username, s.smtp_password)
            conn.ehlo_or_helo_if_needed()  # mail() does not greet by itself
            return conn
        except smtplib.SMTPAuthenticationError as exc:
            # The server's own text only: never the password.
            raise AuthError(f"login refused ({exc.smtp_code}); check SMTP_USERNAME and SMTP_PASSWORD", subject=self.where) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise ConfigError(f"server does not support this: {exc}", subject=self.where) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"cannot connect to SMTP server: {exc}", subject=self.where) from None

    def open(self) -> None:
        """Connect (and log in) once, so a wrong host or password stops us before anything is written."""
        self._idle.append(self._connect())
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="smtp")

    def close(self) -> None:
        """Say QUIT on every connection."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        while self._idle:
            conn = self._idle.pop()
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()

    def post(self, batch: Sequence[Recipient], payload: list[Any]) -> BatchResult:
        """Send the messages over up to ``workers`` connections in parallel."""
        jobs = list(zip(batch, payload))
        lanes = [jobs[i :: self.workers] for i in range(self.workers) if jobs[i :: self.workers]]
        if self._pool is None:
            self.open()
        results = list(self._pool.map(self._send_lane, lanes))
        merged = BatchResult()
        by_id: dict[int, Outcome] = {}
        for lane_result in results:
            for outcome in lane_result.outcomes:
                by_id[outcome.subscriber_id] = outcome
            merged.fatal = merged.fatal or lane_result.fatal
        merged.outcomes = [by_id[r.subscriber_id] for r in batch]
        return merged

    def read_result(self, batch: Sequence[Recipient], answer: BatchResult) -> BatchResult:
        """The per-recipient outcomes collected by ``post``."""
        return answer

    # --- one connection's share of a batch ----------------------------------

    def _take(self) -> smtplib.SMTP:
        try:
            return self._idle.pop()  # list.pop is atomic under the GIL
        except IndexError:
            return self._connect()

    def _send_lane(self, jobs: list[tuple[Recipient, Any]]) -> BatchResult:
        result = BatchResult()
        conn: smtplib.SMTP | None = None
        try:
            for recipient, item in jobs:
                sid = recipient.subscriber_id
                if isinstance(item, NewsletterError):
                    result.outcomes.append(Outcome(sid, FAILED, error=str(item)))
                    continue
                if result.fatal is not None:
                    result.outcomes.append(Outcome(sid, RETRY, error=str(result.fatal)))
                    continue
                for _attempt in range(2):  # a reused connection may have been closed by the server
                    if conn is None:
                        try:
                            conn = self._take()
                        except NewsletterError as exc:
                            result.fatal = exc
                            outcome = Outcome(sid, RETRY, error=str(exc))
                            break
                    outcome, alive = self._send_one(conn, recipient, item)
                    if not alive:
                        conn.close()
                        conn = None
                    if alive or outcome.state != RETRY:
                        break
                result.outcomes.append(outcome)
        finally:
            if conn is not None:
                self._idle.append(conn)
        return result

    def _send_one(self, conn: smtplib.SMTP, recipient: Recipient, item: tuple[str, bytes]) -> tuple[Outcome, bool]:
        """Send one message; return its outcome and whether the connection is still usable."""
        message_id, data = item
        sid = recipient.subscriber_id
        stage = "envelope"
        try:
            code, reply = conn.mail(self.envelope_from)
            if code != 250:
                conn.rset()
                return self._refused(sid, code, reply, "MAIL FROM"), True
            code, reply = conn.rcpt(recipient.email)
            if code not in (250, 251):
                conn.rset()
                return self._refused(sid, code, reply, "RCPT TO"), True
            stage = "data"
            code, reply = conn.data(data)
            return Outcome(sid, ACCEPTED, message_id=message_id), True
        except smtplib.SMTPDataError as exc:  # DATA refused before or after the content
            try:
                conn.rset()
            except (OSError, smtplib.SMTPException):
                return self._refused(sid, exc.smtp_code, exc.smtp_error, "DATA"), False
            return self._refused(sid, exc.smtp_code, exc.smtp_error, "DATA"), True
        except (OSError, smtplib.SMTPException, socket.timeout) as exc:
            if stage == "envelope":
                return Outcome(sid, RETRY, error=f"connection lost before sending: {exc}"), False
            return Outcome(sid, IN_DOUBT, error=f"connection lost while sending: {exc}"), False

    @staticmethod
    def _refused(sid: int, code: int, reply: Any, step: str) -> Outcome:
        text = f"{step} refused: {code} {_reply_text(reply)}".strip()
        return Outcome(sid, RETRY if 400 <= code < 500 else FAILED, error=text)
