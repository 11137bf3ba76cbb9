"""The SMTP backend: a few reused connections in parallel, an outcome per message.

Each batch is split across up to ``SMTP_CONNECTIONS`` connections, each
driven by its own thread (sending is I/O bound). Every message is its own SMTP
transaction, journaled 'sending' just before its MAIL FROM and recorded as
soon as the server answers, so a crash leaves in doubt only the messages on
the wire. The server's answers map to outcomes:

- MAIL/RCPT refused: 4xx ``retry`` (later), 5xx ``failed``;
- the final reply after DATA: 250 ``accepted``, 4xx ``retry``, 5xx ``failed``;
- a connection lost before DATA: ``retry`` on a new connection; lost during
  or after DATA: ``in_doubt``.

International domains go out in their IDNA form; a non-ASCII local part
needs the server's SMTPUTF8, otherwise that one recipient fails.
"""

from __future__ import annotations

import smtplib
import ssl
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from newsletter.delivery.base import (
    ACCEPTED,
    FAILED,
    IN_DOUBT,
    RETRY,
    BatchResult,
    Build,
    Journal,
    Mailing,
    MessageBackend,
    Outcome,
    Recipient,
)
from newsletter.delivery.wire_addresses import wire_address
from newsletter.errors import AuthError, ConfigError, DeliveryError, NewsletterError
from newsletter.return_path import ReturnPaths

SECURITY = ("starttls", "ssl", "none")


def _reply_text(reply: Any) -> str:
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    return str(reply)


def check_settings(settings: Any) -> None:
    """``ConfigError`` unless the SMTP settings can work (before anything is written)."""
    if settings.smtp_security not in SECURITY:
        raise ConfigError(f"must be one of {', '.join(SECURITY)}", subject="SMTP_SECURITY")
    if not settings.smtp_host:
        raise ConfigError("is not set", subject="SMTP_HOST")


class SMTPBackend(MessageBackend):
    """Sends through an SMTP server (``SMTP_HOST``/``SMTP_PORT``/``SMTP_SECURITY``/login)."""

    name = "smtp"
    max_batch = 200

    def __init__(self, settings: Any, build: Build, envelope_from: str, *, send_id: int = 0) -> None:
        """``build(recipient) -> (message_id, bytes)``; ``envelope_from`` is the MAIL FROM address,
        unless ``NEWSLETTER_BOUNCE_ADDRESS`` is set: then each message's is a VERP address naming
        (``send_id``, subscriber, attempt), so its bounce can be matched (``newsletter.return_path``)."""
        check_settings(settings)
        super().__init__(build)
        self.settings = settings
        self.envelope_from = wire_address(envelope_from)[0]
        self.return_paths: ReturnPaths | None = None
        self.send_id = send_id
        if getattr(settings, "newsletter_bounce_address", "") and send_id:
            self.return_paths = ReturnPaths(settings.newsletter_bounce_address, settings.newsletter_secret_key)
        self.workers = max(1, int(settings.smtp_connections))
        self._idle: list[smtplib.SMTP] = []
        self._idle_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def check_settings(cls, settings: Any) -> None:
        """``ConfigError`` unless the SMTP settings can work (see ``check_settings``)."""
        check_settings(settings)

    @classmethod
    def from_settings(cls, settings: Any, mailing: Mailing) -> SMTPBackend:
        """One MIME message per recipient through ``SMTP_HOST``, from the issue's sender."""
        from newsletter.delivery.message import message_builder

        build, sender = message_builder(settings, mailing)
        return cls(settings, build, sender, send_id=mailing.send_id)

    @property
    def where(self) -> str:
        """``host:port`` for messages."""
        return f"{self.settings.smtp_host}:{self.settings.smtp_port}"

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.smtp_security == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.smtp_host, s.smtp_port, timeout=s.smtp_timeout, context=ssl.create_default_context()
                )
            else:
                conn = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
                if s.smtp_security == "starttls":
                    conn.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                conn.login(s.smtp_username, s.smtp_password)
            conn.ehlo_or_helo_if_needed()  # mail() does not greet by itself
            return conn
        except smtplib.SMTPAuthenticationError as exc:
            # The server's own code only: never the password.
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

    def send_batch(self, batch: Sequence[Recipient], journal: Journal) -> BatchResult:
        """Send the messages over up to ``workers`` connections in parallel."""
        if self._pool is None:
            self.open()
        assert self._pool is not None
        lanes = [list(batch[i :: self.workers]) for i in range(self.workers) if batch[i :: self.workers]]
        stop = threading.Event()
        results = list(self._pool.map(lambda lane: self._send_lane(lane, journal, stop), lanes))
        merged = BatchResult()
        by_id: dict[int, Outcome] = {}
        for lane_result in results:
            for outcome in lane_result.outcomes:
                by_id[outcome.subscriber_id] = outcome
            merged.stop = merged.stop or lane_result.stop
        merged.outcomes = [by_id[r.subscriber_id] for r in batch]
        return merged

    # --- one connection's share of a batch ----------------------------------

    def _take(self) -> smtplib.SMTP:
        with self._idle_lock:
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _send_lane(self, jobs: list[Recipient], journal: Journal, stop: threading.Event) -> BatchResult:
        result = BatchResult()
        conn: smtplib.SMTP | None = None
        try:
            for recipient in jobs:
                sid = recipient.subscriber_id
                if stop.is_set():
                    result.outcomes.append(Outcome(sid, RETRY, error="not sent: the run stopped"))
                    continue
                item = self.build_one(recipient)
                if isinstance(item, Outcome):
                    result.outcomes.append(item)
                    journal.answered(item)
                    continue
                outcome: Outcome | None = None
                for _attempt in range(2):  # a reused connection may have been closed by the server
                    if conn is None:
                        try:
                            conn = self._take()
                        except NewsletterError as exc:
                            result.stop = exc
                            stop.set()
                            outcome = Outcome(sid, RETRY, error=f"not sent: {exc}")
                            break
                    if outcome is None and not journal.handing_over(recipient):
                        outcome = Outcome(sid, RETRY, error="not sent: claim lost")
                        break
                    outcome, alive = self._send_one(conn, recipient, *item)
                    if not alive:
                        conn.close()
                        conn = None
                    if alive or outcome.state != RETRY:
                        break
                assert outcome is not None
                result.outcomes.append(outcome)
                journal.answered(outcome)
        finally:
            if conn is not None:
                with self._idle_lock:
                    self._idle.append(conn)
        return result

    def _send_one(self, conn: smtplib.SMTP, recipient: Recipient, message_id: str, data: bytes) -> tuple[Outcome, bool]:
        """Send one message; return its outcome and whether the connection is still usable."""
        sid = recipient.subscriber_id
        stage = "envelope"
        try:
            address, utf8 = wire_address(recipient.email)
            options: list[str] = []
            if utf8:
                if not conn.has_extn("smtputf8"):
                    return Outcome(sid, FAILED, error="the address needs SMTPUTF8, which the server does not offer"), True
                options = ["SMTPUTF8"]
            sender = self.envelope_from
            if self.return_paths is not None:
                sender = self.return_paths.address(self.send_id, sid, recipient.attempt)
            code, reply = conn.mail(sender, options)
            if code != 250:
                conn.rset()
                return self._refused(sid, code, reply, "MAIL FROM"), True
            code, reply = conn.rcpt(address)
            if code not in (250, 251):
                conn.rset()
                return self._refused(sid, code, reply, "RCPT TO"), True
            stage = "data"
            code, reply = conn.data(data)
            if code != 250:  # the final reply: the server refused what it received
                return self._refused(sid, code, reply, "message"), True
            return Outcome(sid, ACCEPTED, message_id=message_id), True
        except smtplib.SMTPDataError as exc:  # DATA itself refused: nothing was transferred
            try:
                conn.rset()
            except (OSError, smtplib.SMTPException):
                return self._refused(sid, exc.smtp_code, exc.smtp_error, "DATA"), False
            return self._refused(sid, exc.smtp_code, exc.smtp_error, "DATA"), True
        except (OSError, smtplib.SMTPException) as exc:
            if stage == "envelope":
                return Outcome(sid, RETRY, error=f"connection lost before sending: {exc}"), False
            return Outcome(sid, IN_DOUBT, error=f"connection lost while sending: {exc}"), False
        except Exception as exc:  # one message's problem, never the batch's
            what = f"{type(exc).__name__}: {exc}"
            if stage == "envelope":
                return Outcome(sid, FAILED, error=f"cannot send to this address: {what}"), False
            return Outcome(sid, IN_DOUBT, error=f"unexpected error while sending: {what}"), False

    @staticmethod
    def _refused(sid: int, code: int, reply: Any, step: str) -> Outcome:
        text = f"{step} refused: {code} {_reply_text(reply)}".strip()
        return Outcome(sid, RETRY if 400 <= code < 500 else FAILED, error=text)
