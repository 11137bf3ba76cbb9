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
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter.errors import InputError
from newsletter.store import events as event_store
from newsletter.tracking.event import Event

if TYPE_CHECKING:
    from newsletter.settings import Settings
    from newsletter.store import DB

@dataclass(frozen=True)
class IngestResult:
    """What an ingest did: events received, stored, skipped as repeats or unusable."""

    received: int
    stored: int
    duplicates: int
    ignored: int
    status_changes: int
    unusable: tuple[tuple[int, str], ...] = ()  # (line, reason) of the first skipped elements of a file

    def as_dict(self) -> dict[str, int]:
        """JSON-friendly form (the webhook's answer)."""
        return {"received": self.received, "stored": self.stored, "duplicates": self.duplicates,
                "ignored": self.ignored, "status_changes": self.status_changes}


def _positive_int(value: Any) -> int | None:
    kind = type(value)  # exact types: a JSON true is a bool, which is an int to isinstance
    if kind is int:
        return value if value > 0 else None
    if kind is str:
        text = value.strip()
        # isascii: str.isdigit() also accepts digits such as "²" that int() refuses.
        if text.isascii() and text.isdigit() and len(text) < 19:
            number = int(text)
            return number if number > 0 else None
    return None


def _iso_time(value: Any) -> str:
    if type(value) is int or type(value) is float:  # not bool
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
    """One SendGrid webhook event as an ``Event``; None if it is not a usable event.

    Its ``ip`` and ``useragent`` are taken out of ``item`` (the agent is kept on the event until it is
    judged), so neither is ever stored.
    """
    if not isinstance(item, dict):
        return None
    get = item.get
    kind = get("event")
    if type(kind) is not str or not kind or len(kind) > 64:
        return None
    email, url = get("email"), get("url")
    # The client's address and agent leave the raw event here: the agent is only judged (tracking/judging.py).
    item.pop("ip", None)
    agent = item.pop("useragent", None)
    return Event(
        source="sendgrid",
        type=kind,
        occurred_at=_iso_time(get("timestamp")),
        send_id=_positive_int(get("send_id")),
        subscriber_id=_positive_int(get("subscriber_id")),
        email=email if type(email) is str else "",
        url=url if type(url) is str else "",
        event_key=_sendgrid_key(item, kind),
        attempt=_positive_int(get("attempt")),
        raw=item,
        user_agent=agent[:512] if type(agent) is str else "",
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


def ingest_sendgrid(conn: DB, items: Iterable[Any]) -> IngestResult:
    """Judge, store (de-duplicated) and apply the status changes of a batch of SendGrid events, in one transaction."""
    from newsletter.store import transaction
    from newsletter.tracking.judging import judge_events

    items = list(items)
    events = [e for e in map(normalise_sendgrid, items) if e is not None]
    with transaction(conn):
        judge_events(conn, events)
        outcome = event_store.store_event_batch(conn, [e.to_row() for e in events])
    return IngestResult(
        received=len(items), stored=outcome.stored, duplicates=outcome.duplicates,
        ignored=len(items) - len(events), status_changes=outcome.status_changes,
    )


#: Events normalised and stored per batch by ``import_events_file``.
IMPORT_BATCH = 2000


#: Unusable elements whose line ``import_events_file`` reports (all are counted).
UNUSABLE_KEPT = 1000


def import_events_file(
    path: str | Path, settings: Settings, *, progress: Callable[[int, int | None], None] | None = None
) -> IngestResult:
    """Load a saved SendGrid event array (``newsletter events import``) into the database.

    The file is streamed (one event decoded at a time, stored in batches of
    ``IMPORT_BATCH``) inside one transaction: a file that turns out not to be
    a JSON array halfway leaves the database as it was, and the error names
    ``file:line``. Elements that are not events are skipped and counted; the
    first ``UNUSABLE_KEPT`` are reported as ``(line, reason)``. ``progress(events
    read, None)`` is called after every batch, and ``progress(total, total)`` at the end.
    """
    from newsletter.store import connect, transaction
    from newsletter.tracking.jsonstream import iter_json_array
    from newsletter.tracking.judging import judge_events

    path = Path(path)
    received = ignored = 0
    unusable: list[tuple[int, str]] = []
    outcomes: list[event_store.StoreOutcome] = []  # one per batch: a few hundred for a million events
    try:
        handle = path.open(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", subject=str(path)) from None
    conn = connect(settings.newsletter_database)
    try:
        event_store.prepare_for_import(conn)
        with handle, transaction(conn):
            batch: list[Event] = []

            def store(events: list[Event]) -> None:
                judge_events(conn, events)
                outcomes.append(event_store.store_event_batch(conn, [e.to_row() for e in events]))

            for line, item in iter_json_array(handle, subject=str(path)):
                received += 1
                event = normalise_sendgrid(item)
                if event is None:
                    ignored += 1
                    if len(unusable) < UNUSABLE_KEPT:
                        unusable.append((line, "not a SendGrid event (an object with an \"event\" field)"))
                    continue
                batch.append(event)
                if len(batch) >= IMPORT_BATCH:
                    store(batch)
                    batch = []
                    if progress is not None:
                        progress(received, None)
            store(batch)
            if progress is not None:
                progress(received, received)  # the end: now the total is known
            if received and ignored == received:
                raise InputError("no SendGrid events found (objects with an \"event\" field)", subject=str(path))
    except UnicodeDecodeError:
        from newsletter.textfiles import line_of_bad_utf8

        raise InputError("not UTF-8 text", subject=f"{path}:{line_of_bad_utf8(path)}") from None
    finally:
        handle.close()
        conn.close()
    return IngestResult(
        received=received, stored=sum(o.stored for o in outcomes), duplicates=sum(o.duplicates for o in outcomes),
        ignored=ignored, status_changes=sum(o.status_changes for o in outcomes), unusable=tuple(unusable),
    )


def record_tracking(conn: DB, kind: str, send_id: int, subscriber_id: int, url: str = "",
                    user_agent: str = "") -> str:
    """Record an open, click or canary fetch seen by our own pixel or redirect (source ``tracking``),
    judged (``tracking.verdicts``) on ``user_agent``, which is not kept. Returns the verdict."""
    from newsletter.store import transaction
    from newsletter.tracking.judging import judge_events

    event = Event(source="tracking", type=kind, occurred_at=event_store.utc_now(), send_id=send_id,
                  subscriber_id=subscriber_id, url=url, user_agent=user_agent,
                  raw={"event": kind, "send_id": send_id, "subscriber_id": subscriber_id, **({"url": url} if url else {})})
    with transaction(conn):
        judge_events(conn, [event])
        event_store.store_event_batch(conn, [event.to_row()])
    return event.verdict


def unsubscribe(conn: DB, subscriber_id: int, send_id: int) -> bool:
    """Unsubscribe from the one-click link (idempotent); False if the subscriber no longer exists."""
    return event_store.unsubscribe_from_page(conn, subscriber_id, send_id, source="unsubscribe-page")
