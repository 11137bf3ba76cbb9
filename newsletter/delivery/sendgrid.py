"""The SendGrid backend: v3 mail send, over one keep-alive HTTP connection per sending thread.

The send path talks HTTP itself (``http.client``, the body serialised with
``orjson``): the official library's client opens a new connection for every
request and formats a debug copy of every body; on 100 requests of 1,000
recipients that was most of the time not spent waiting. The official library
stays where it is the right tool: verifying the signed Event Webhook.

One request carries up to 1000 personalizations and the content once;
per-recipient values travel as substitutions keyed by the placeholders
compose left (``%%name%%`` ...). SendGrid substitutes the same value into
text and HTML, but the HTML needs it escaped: when any value of a request
changes under escaping, that request's text part uses ``%%text:name%%``-style
keys carrying the raw values.

Documented limits respected here: at most 1000 personalizations, each
address once per request, no ``;`` or ``,`` in names, at most 10
categories, substitutions under 10,000 bytes per personalization, text/plain
before text/html.

Answers (the README's table): 2xx accepted; 400 that request failed
(SendGrid's ``errors[].message`` kept); 401/403 not sent, and the run stops;
413 split the request; 429 wait for ``X-RateLimit-Reset`` (or back off) and
repeat, a bounded number of times; a refused connection: back off and repeat,
then stop. 5xx, a lost connection or a timeout after the request was sent
prove nothing: that request's recipients are *in doubt*, never repeated
automatically. Every personalization carries ``custom_args`` (send id,
subscriber id, attempt), so the provider's events can settle doubts later.
"""

from __future__ import annotations

import base64
import html
import http.client
import json
import operator
import re
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from newsletter.delivery.base import (
    ACCEPTED,
    FAILED,
    IN_DOUBT,
    RETRY,
    Backend,
    BatchResult,
    Journal,
    Mailing,
    NoJournal,
    Outcome,
    Recipient,
)
from newsletter.delivery.wire_addresses import wire_address
from newsletter.errors import AuthError, ConfigError, DeliveryError
from newsletter.personalize import NAME_FALLBACK, RECIPIENT_FIELDS, has_placeholder, personalize

MAX_PERSONALIZATIONS = 1000
MAX_CATEGORIES = 10
MAX_SUBSTITUTION_BYTES = 10_000
#: Retries of one request for 429 / 5xx / refused connections before giving up.
MAX_ATTEMPTS = 5
#: Longest wait for a rate-limit reset or backoff, in seconds.
MAX_WAIT_S = 60.0

#: How the backend waits between attempts (tests replace it to not wait).
_sleep = time.sleep

_NAME_SEPARATORS = re.compile(r"[;,\s]+")
_NAME_NEEDS_CLEANING = re.compile(r"[;,]|\s\s|[^\S ]")  # a separator, a run of blanks, a blank other than a space
_HTML_SPECIAL = re.compile(r"[&<>\"']")


def _escape(value: str) -> str:
    # html.escape, skipped for the common value that has nothing to escape.
    return html.escape(value, quote=True) if _HTML_SPECIAL.search(value) else value


def _substitution_bytes(substitutions: dict[str, str]) -> int:
    """UTF-8 size of a personalization's substitutions (exact only when it could matter)."""
    chars = sum(map(len, substitutions)) + sum(map(len, substitutions.values()))
    if chars * 4 < MAX_SUBSTITUTION_BYTES:  # UTF-8 needs at most 4 bytes a character
        return chars
    return sum(len(k.encode()) + len(v.encode()) for k, v in substitutions.items())


def clean_name(name: str) -> str:
    """A recipient name SendGrid accepts: ``;`` and ``,`` replaced, blanks collapsed."""
    if not _NAME_NEEDS_CLEANING.search(name or ""):
        return (name or "").strip()  # the common name: nothing to replace
    return _NAME_SEPARATORS.sub(" ", name).strip()


def clean_categories(categories: Sequence[str]) -> list[str]:
    """At most 10 distinct, non-empty categories, trimmed (255 characters each)."""
    seen: dict[str, None] = {}
    for category in categories or ():
        text = str(category).strip()[:255]
        if text:
            seen.setdefault(text, None)
    return list(seen)[:MAX_CATEGORIES]


def check_settings(settings: Any) -> None:
    """``ConfigError`` unless the SendGrid settings can work (before anything is written)."""
    if not settings.sendgrid_api_key.strip():
        raise ConfigError("is not set (needed for the sendgrid backend)", subject="SENDGRID_API_KEY")


@dataclass
class Answer:
    """What one request got: an HTTP status (0: none), body, headers, or the reason there was none."""

    status: int
    body: bytes = b""
    headers: Any = None
    error: str = ""


class PreparedBatch(list[Recipient]):
    """A batch whose request body is already serialised (``SendGridBackend.prepare``)."""

    data: bytes = b""
    ids: Sequence[int] = ()
    refused: Sequence[Outcome] = ()


class SendGridBackend(Backend):
    """Sends batches of up to 1000 recipients per v3 ``mail/send`` request."""

    name = "sendgrid"
    max_batch = MAX_PERSONALIZATIONS

    def __init__(
        self,
        settings: Any,
        result: Any,
        headers: Any,
        *,
        send_id: int,
        attachments: Sequence[Path] = (),
        send_at: datetime | None = None,
        batch_id: str = "",
    ) -> None:
        """``result`` is the composed issue, ``headers`` its ``SharedHeaders``; with ``send_at`` and
        ``batch_id`` every request asks SendGrid to hold its messages until then (a scheduled send)."""
        check_settings(settings)
        self.settings = settings
        self.send_id = send_id
        self.url = settings.sendgrid_api_url.rstrip("/")
        self._base = self._base_body(result, headers, attachments)
        if send_at is not None:
            self._base.update(send_at=int(send_at.timestamp()), batch_id=batch_id)
        self._html = result.html
        self._text = result.text
        self._text_raw = result.text
        for field in RECIPIENT_FIELDS:
            self._text_raw = self._text_raw.replace(f"%%{field}%%", f"%%text:{field}%%")
        self._list_unsubscribe = headers.list_unsubscribe
        # A subject with %%name%% or %%first_name%%: each personalization carries its own, filled here
        # (SendGrid would fill it with the HTML-escaped substitutions).
        self._subject = headers.subject if has_placeholder(headers.subject) else ""
        self._send_id_text = str(send_id)
        # %%first_name%% only travels when the issue uses it (each substitution costs every recipient).
        fields = RECIPIENT_FIELDS if "%%first_name%%" in self._html + self._text else tuple(
            f for f in RECIPIENT_FIELDS if f != "first_name")
        self._names = 2 if "first_name" in fields else 1  # leading fields that fall back to "there"
        self._values = operator.attrgetter(*fields)  # a Recipient's placeholder values, in order
        self._html_keys = tuple(f"%%{field}%%" for field in fields)
        self._text_keys = tuple(f"%%text:{field}%%" for field in fields)
        self._path = (urlsplit(self.url).path.rstrip("/") or "") + "/v3/mail/send"
        self._headers = {
            "Authorization": f"Bearer {settings.sendgrid_api_key.strip()}",
            "Content-Type": "application/json",
            "User-Agent": "newsletter",
        }
        self._local = threading.local()
        self._connections: list[http.client.HTTPConnection] = []
        self._connections_lock = threading.Lock()

    @classmethod
    def check_settings(cls, settings: Any) -> None:
        """``ConfigError`` unless the SendGrid settings can work (see ``check_settings``)."""
        check_settings(settings)

    @classmethod
    def from_settings(cls, settings: Any, mailing: Mailing) -> SendGridBackend:
        """Batches of up to 1000 recipients per request; tracking is SendGrid's own."""
        from newsletter.delivery.message import shared_headers

        headers = shared_headers(mailing.result, settings, subject_prefix=mailing.subject_prefix,
                                 list_name=mailing.list_name)
        return cls(settings, mailing.result, headers, send_id=mailing.send_id, attachments=mailing.attachments,
                   send_at=mailing.send_at, batch_id=mailing.batch_id)

    def _base_body(self, result: Any, headers: Any, attachments: Sequence[Path]) -> dict[str, Any]:
        s = self.settings
        body: dict[str, Any] = {
            "from": {"email": headers.from_email, **({"name": clean_name(headers.from_name)} if headers.from_name else {})},
            "subject": headers.subject,
            # SendGrid signs with its own DKIM key; List-Id and Feedback-ID are ours to give (per list, per send).
            "headers": {"List-Id": headers.list_id, "Feedback-ID": headers.feedback_id(self.send_id)},
            "tracking_settings": {
                "click_tracking": {"enable": bool(s.sendgrid_tracking), "enable_text": False},
                "open_tracking": {"enable": bool(s.sendgrid_tracking)},
            },
        }
        if headers.reply_to:
            from email.utils import parseaddr

            name, address = parseaddr(headers.reply_to)
            body["reply_to"] = {"email": address, **({"name": clean_name(name)} if name else {})}
        categories = clean_categories(getattr(result.issue, "categories", []))
        if categories:
            body["categories"] = categories
        if s.sendgrid_asm_group_id:
            body["asm"] = {"group_id": int(s.sendgrid_asm_group_id)}
        if s.sendgrid_sandbox:
            body["mail_settings"] = {"sandbox_mode": {"enable": True}}
        if attachments:
            body["attachments"] = [
                {
                    "content": base64.b64encode(Path(p).read_bytes()).decode("ascii"),
                    "type": "image/png",
                    "filename": Path(p).name,
                    "disposition": "attachment",
                }
                for p in attachments
            ]
        return body

    def open(self) -> None:
        """Nothing to do until the first batch: each sending thread opens its own keep-alive connection."""

    def close(self) -> None:
        """Close the connections of every thread."""
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn.sock is not None and _peer_closed(conn.sock):
            conn.close()  # the server dropped the idle connection: reconnect before sending
        if conn is None:
            parts = urlsplit(self.url)
            kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
            conn = kind(parts.hostname or "", parts.port, timeout=self.settings.sendgrid_timeout)
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    # --- payload --------------------------------------------------------------

    def _personalization(self, r: Recipient, email: str, raw_text: bool) -> dict[str, Any]:
        # The hot loop of a send, once per recipient: placeholder keys are made once per
        # backend, and values are escaped only when the batch has a character to escape.
        values = self._values(r)
        if not values[0]:  # no name, so no first name either (RECIPIENT_FIELDS starts with both)
            values = (NAME_FALLBACK,) * self._names + values[self._names:]
        if raw_text:
            subs = dict(zip(self._html_keys, map(_escape, values), strict=True))
            subs.update(zip(self._text_keys, values, strict=True))
        else:
            subs = dict(zip(self._html_keys, values, strict=True))
        to = {"email": email}
        name = clean_name(r.addressee)
        if name:
            to["name"] = name
        personal: dict[str, Any] = {
            "to": [to],
            "substitutions": subs,
            "custom_args": {"send_id": self._send_id_text, "subscriber_id": str(r.subscriber_id), "attempt": str(r.attempt)},
            "headers": {
                "List-Unsubscribe": self._list_unsubscribe(r.unsubscribe_url),
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        }
        if r.subject:  # a subject test's variant (checked for CR/LF when the test was asked for)
            personal["subject"] = personalize(r.subject, r.values(), is_html=False)
        elif self._subject:
            personal["subject"] = personalize(self._subject, r.values(), is_html=False)  # names hold no CR/LF
        return personal

    def build_payload(self, batch: Sequence[Recipient]) -> tuple[dict[str, Any], list[Outcome]]:
        """The request body for ``batch`` and the outcomes of recipients refused before sending."""
        # One search over all the batch's values: when none needs escaping (nearly always),
        # the HTML and text placeholders can share them as they are.
        raw_text = _HTML_SPECIAL.search("".join(chain.from_iterable(map(self._values, batch)))) is not None
        personalizations, refused = [], []
        for r in batch:
            email = r.email
            if not email.isascii():
                problem = _address_problem(email)
                if problem:
                    refused.append(Outcome(r.subscriber_id, FAILED, "", problem))
                    continue
                email = wire_address(email)[0]
            p = self._personalization(r, email, raw_text)
            size = _substitution_bytes(p["substitutions"])
            if size >= MAX_SUBSTITUTION_BYTES:
                refused.append(Outcome(r.subscriber_id, FAILED, "", f"personal values too large for SendGrid ({size} bytes)"))
                continue
            personalizations.append(p)
        body = dict(self._base)
        body["personalizations"] = personalizations
        body["content"] = [
            {"type": "text/plain", "value": self._text_raw if raw_text else self._text},
            {"type": "text/html", "value": self._html},
        ]
        return body, refused

    # --- the request ----------------------------------------------------------

    def _request(self, data: bytes) -> Answer:
        """POST one serialised mail-send request on this thread's keep-alive connection.

        Status 0: provably not sent (no connection, or the request could not be
        written whole); -1: sent, and no answer (a timeout, a lost connection).
        """
        conn = self._connection()
        try:
            conn.request("POST", self._path, body=data, headers=self._headers)
        except OSError as exc:  # connecting or writing failed: a partial request is never processed
            conn.close()
            return Answer(0, error=f"cannot connect: {exc}")
        try:
            response = conn.getresponse()
            payload = response.read()
        except TimeoutError:
            conn.close()
            return Answer(-1, error=f"no answer within {self.settings.sendgrid_timeout:g} s")
        except (http.client.HTTPException, OSError) as exc:
            conn.close()
            return Answer(-1, error=f"connection lost: {type(exc).__name__}: {exc}")
        if response.will_close:
            conn.close()
        return Answer(response.status, payload, response.headers)

    def _wait_for(self, answer: Answer, attempt: int) -> float:
        if answer.status == 429 and answer.headers is not None:
            reset = answer.headers.get("X-RateLimit-Reset")
            try:
                return min(MAX_WAIT_S, max(0.0, float(reset) - time.time()) + 0.05)
            except (TypeError, ValueError):
                pass
        return min(MAX_WAIT_S, 0.5 * 2**attempt)

    def post(self, data: bytes, journal: Journal = NoJournal()) -> Answer:
        """Send one serialised request; repeat it only on answers that prove nothing was taken (429, refused
        connection), and only while the run still holds the send (one taken over meanwhile sends no more)."""
        answer = Answer(0)
        for attempt in range(MAX_ATTEMPTS):
            if attempt and not journal.still_holds():
                return Answer(0, error="this run no longer holds the send (another run took it over)")
            answer = self._request(data)
            if answer.status not in (0, 429):
                return answer
            if attempt + 1 < MAX_ATTEMPTS:
                _sleep(self._wait_for(answer, attempt))
        if answer.status == 0:
            answer.error = f"SendGrid unreachable after {MAX_ATTEMPTS} attempts: {answer.error}"
        return answer

    def read_result(self, ids: Sequence[int], answer: Answer) -> BatchResult:
        """Map one request's answer onto every recipient it carried (see the table in the README)."""
        result = BatchResult()

        def every(state: str, error: str = "", message_id: str = "") -> BatchResult:
            result.outcomes.extend([Outcome(sid, state, message_id, error) for sid in ids])
            return result

        status = answer.status
        if 200 <= status < 300:
            message_id = (answer.headers.get("X-Message-Id") if answer.headers is not None else None) or ""
            return every(ACCEPTED, message_id=message_id)
        if status in (401, 403):
            result.stop = AuthError(
                f"SendGrid refused the API key (HTTP {status}): check SENDGRID_API_KEY and its Mail Send permission",
                subject=self.url,
            )
            return every(RETRY, error=f"not sent: HTTP {status}")
        if status == 0:
            result.stop = DeliveryError(answer.error, subject=self.url)
            return every(RETRY, error=f"not sent: {answer.error}")
        if status == 429:
            return every(RETRY, error=f"HTTP 429 from SendGrid after {MAX_ATTEMPTS} attempts")
        if status == -1:
            return every(IN_DOUBT, error=answer.error)
        if status >= 500:  # a gateway may answer 5xx after SendGrid took the mail: no proof of refusal
            return every(IN_DOUBT, error=f"HTTP {status} from SendGrid: it may or may not have taken the messages")
        return every(FAILED, error=f"HTTP {status}: {_error_messages(answer.body)}")

    def _request_for(self, part: Sequence[Recipient]) -> tuple[bytes, list[int], list[Outcome]]:
        """The serialised request for ``part``, the subscriber ids it carries, and the recipients refused."""
        import orjson

        body, refused = self.build_payload(part)
        ids = [int(p["custom_args"]["subscriber_id"]) for p in body["personalizations"]]
        return orjson.dumps(body), ids, refused

    def prepare(self, batch: list[Recipient]) -> list[Recipient]:
        """Build and serialise the request now (a batch that names an address twice is left to ``send_batch``)."""
        if len(_unique_addresses(batch)) != 1:
            return batch
        prepared = PreparedBatch(batch)
        prepared.data, prepared.ids, prepared.refused = self._request_for(batch)
        return prepared

    def send_batch(self, batch: Sequence[Recipient], journal: Journal = NoJournal()) -> BatchResult:
        """Send one batch, splitting it on 413 or on a repeated address; an outcome for every recipient."""
        result = BatchResult()
        ready = batch if isinstance(batch, PreparedBatch) else None
        pending = [list(batch)] if ready is not None else [part for part in _unique_addresses(list(batch)) if part]
        while pending:
            part = pending.pop(0)
            if result.stop is not None:
                result.outcomes.extend([Outcome(r.subscriber_id, RETRY, "", "not sent: the run stopped") for r in part])
                continue
            if ready is not None:
                data, ids, refused, ready = ready.data, ready.ids, ready.refused, None
            else:
                data, ids, refused = self._request_for(part)
            result.outcomes.extend(refused)
            if not ids:
                continue
            answer = self.post(data, journal)
            if answer.status == 413 and len(ids) > 1:
                carried = set(ids)
                sent = [r for r in part if r.subscriber_id in carried]
                half = len(sent) // 2
                pending[:0] = [sent[:half], sent[half:]]
                continue
            answered = self.read_result(ids, answer)
            result.outcomes.extend(answered.outcomes)
            result.stop = answered.stop
        return result


def _peer_closed(sock: socket.socket) -> bool:
    """True when the server has closed an idle keep-alive connection (it is readable, at EOF)."""
    import select

    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _unique_addresses(batch: list[Recipient]) -> list[list[Recipient]]:
    # SendGrid refuses a request naming an address twice: the k-th occurrence
    # of every address goes into the k-th request.
    parts: list[list[Recipient]] = []
    seen: dict[str, int] = {}
    for r in batch:
        key = r.email.lower()
        k = seen.get(key, 0)
        seen[key] = k + 1
        if k == len(parts):
            parts.append([])
        parts[k].append(r)
    return parts


def _address_problem(email: str) -> str:
    """Why SendGrid cannot take this address ('' if it can): it has no ASCII form."""
    try:
        return "SendGrid does not accept non-ASCII local parts (SMTPUTF8)" if wire_address(email)[1] else ""
    except ValueError as exc:
        return str(exc)


def _error_messages(body: bytes) -> str:
    try:
        errors = json.loads(body or b"{}").get("errors") or []
        messages = [str(e.get("message", "")).strip() for e in errors if isinstance(e, dict)]
        return "; ".join(m for m in messages if m)[:500] or "bad request"
    except (ValueError, AttributeError):
        return (body or b"").decode("utf-8", "replace")[:200] or "bad request"
