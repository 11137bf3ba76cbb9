"""Provider and tracking events: normalise, de-duplicate, store, act on.

SendGrid posts arrays of events; each carries the ``custom_args`` that
``send`` set, flattened to top-level ``send_id``, ``subscriber_id`` and ``attempt``
strings (the attempt lets ``send`` settle a recipient left in doubt). Every event becomes one ``Event`` (keeping the raw JSON), is stored
once (de-duplicated on ``sg_event_id``, else on (message id, event, timestamp);
SendGrid retries and repeats), and
bounces, spam reports and unsubscribes change the subscriber's status so the
next send skips them. Every event type is stored (processed, delivered,
deferred, dropped, bounce, open, click, spamreport, unsubscribe,
group_unsubscribe, group_resubscribe, and any SendGrid adds later).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from newsletter.errors import InputError
from newsletter.store import events as event_store

#: Subscriber status each event type implies (the store only ever worsens a status).
STATUS_BY_TYPE = {
    "bounce": "bounced",
    "spamreport": "complained",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "unsubscribed",
}


@dataclass(slots=True)  # not frozen: frozen dataclasses are slow to build, and ingest builds 100,000s
class Event:
    """One event, normalised, with the provider's raw event kept in ``raw``."""

    source: str
    type: str
    occurred_at: str
    send_id: int | None = None
    subscriber_id: int | None = None
    email: str = ""
    url: str = ""
    event_key: str | None = None
    attempt: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def new_status(self) -> str | None:
        """The subscriber status this event implies, or None."""
        # SendGrid's bounce of type "blocked" is a temporary refusal (soft bounce).
        if self.type == "bounce" and self.raw.get("type") == "blocked":
            return None
        return STATUS_BY_TYPE.get(self.type)

    def to_row(self) -> event_store.EventRow:
        """The storage form of this event."""
        status = self.new_status
        return event_store.EventRow(
            source=self.source, type=self.type, event_key=self.event_key, send_id=self.send_id,
            subscriber_id=self.subscriber_id, email=self.email, url=self.url, occurred_at=self.occurred_at,
            attempt=self.attempt, raw=json.dumps(self.raw, separators=(",", ":"), ensure_ascii=False),
            new_status=status, status_reason=f"{self.source} {self.type}" if status else "",
        )


@dataclass(frozen=True)
class IngestResult:
    """What an ingest did: events received, stored, skipped as repeats or unusable."""

    received: int
    stored: int
    duplicates: int
    ignored: int
    status_changes: int

    def as_dict(self) -> dict[str, int]:
        """JSON-friendly form (the webhook's answer)."""
        return {"received": self.received, "stored": self.stored, "duplicates": self.duplicates,
                "ignored": self.ignored, "status_changes": self.status_changes}


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 19:
        number = int(value.strip())
        return number if number > 0 else None
    return None


def _iso_time(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))
        except (OverflowError, OSError, ValueError):
            pass
    return event_store.utc_now()


def _sendgrid_key(item: dict[str, Any], kind: str) -> str | None:
    """De-duplication key: ``sg_event_id``, else (message id, event, timestamp) when all are there."""
    event_id = item.get("sg_event_id")
    if isinstance(event_id, str) and event_id:
        return f"sg:{event_id}"
    message_id, timestamp = item.get("sg_message_id"), item.get("timestamp")
    if isinstance(message_id, str) and message_id and isinstance(timestamp, (int, float)) and not isinstance(timestamp, bool):
        return f"sg:{message_id}:{kind}:{timestamp}"
    return None


def normalise_sendgrid(item: Any) -> Event | None:
    """One SendGrid webhook event as an ``Event``; None if it is not a usable event."""
    if not isinstance(item, dict):
        return None
    kind = item.get("event")
    if not isinstance(kind, str) or not kind or len(kind) > 64:
        return None
    email = item.get("email")
    url = item.get("url")
    return Event(
        source="sendgrid",
        type=kind,
        occurred_at=_iso_time(item.get("timestamp")),
        send_id=_positive_int(item.get("send_id")),
        subscriber_id=_positive_int(item.get("subscriber_id")),
        email=email if isinstance(email, str) else "",
        url=url if isinstance(url, str) else "",
        event_key=_sendgrid_key(item, kind),
        attempt=_positive_int(item.get("attempt")),
        raw=item,
    )


def parse_event_array(data: bytes | str, *, subject: str) -> list[Any]:
    """The JSON array of a webhook body or saved file; ``InputError`` if it is not one."""
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError):
        raise InputError("not valid JSON", subject=subject) from None
    if not isinstance(payload, list):
        raise InputError("expected a JSON array of events", subject=subject)
    return payload


def ingest_sendgrid(conn: sqlite3.Connection, items: Iterable[Any]) -> IngestResult:
    """Store a batch of SendGrid events in one transaction (de-duplicated) and apply status changes."""
    items = list(items)
    events = [e for e in map(normalise_sendgrid, items) if e is not None]
    outcome = event_store.store_events(conn, (e.to_row() for e in events))
    return IngestResult(
        received=len(items), stored=outcome.stored, duplicates=outcome.duplicates,
        ignored=len(items) - len(events), status_changes=outcome.status_changes,
    )


#: Events stored per transaction by ``import_events_file`` (progress is reported between them).
IMPORT_BATCH = 5000


def import_events_file(
    path: str | Path, settings, *, progress: Callable[[int, int | None], None] | None = None
) -> IngestResult:
    """Load a saved SendGrid event array (``newsletter events import``) into the database.

    Events are stored in batches of ``IMPORT_BATCH``, each its own transaction
    (repeats are skipped, so re-running after an interruption is safe);
    ``progress(done, total)`` is called after each batch.
    """
    from newsletter.store import connect

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", subject=str(path)) from None
    items = parse_event_array(data, subject=str(path))
    if items and not any(isinstance(i, dict) and isinstance(i.get("event"), str) for i in items):
        raise InputError("no SendGrid events found (objects with an \"event\" field)", subject=str(path))
    conn = connect(settings.newsletter_database)
    totals = dict.fromkeys(("received", "stored", "duplicates", "ignored", "status_changes"), 0)
    try:
        for start in range(0, len(items), IMPORT_BATCH):
            batch = ingest_sendgrid(conn, items[start:start + IMPORT_BATCH])
            totals = {key: totals[key] + value for key, value in batch.as_dict().items()}
            if progress:
                progress(start + batch.received, len(items))
    finally:
        conn.close()
    return IngestResult(**totals)


def record_tracking(conn: sqlite3.Connection, kind: str, send_id: int, subscriber_id: int, url: str = "") -> None:
    """Record an open or click seen by our own pixel or redirect (source ``tracking``)."""
    event = Event(source="tracking", type=kind, occurred_at=event_store.utc_now(), send_id=send_id,
                  subscriber_id=subscriber_id, url=url,
                  raw={"event": kind, "send_id": send_id, "subscriber_id": subscriber_id, **({"url": url} if url else {})})
    event_store.store_events(conn, [event.to_row()])


def unsubscribe(conn: sqlite3.Connection, subscriber_id: int, send_id: int) -> bool:
    """Unsubscribe from the one-click link (idempotent); False if the subscriber no longer exists."""
    return event_store.unsubscribe_from_page(conn, subscriber_id, send_id, source="unsubscribe-page")
