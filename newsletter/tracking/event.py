"""The one event type: what a provider (or our own tracking) says happened to one message, normalised,
with the provider's raw event kept in ``raw`` (django-anymail's ``AnymailTrackingEvent`` is the model).

``provider_events`` makes them from SendGrid's posts and our own pixel and redirect, ``judging`` gives
opens and clicks their verdict, and ``to_row`` is how the store keeps one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

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
    verdict: str = ""  # opens and clicks, once judged (tracking/judging.py)
    verdict_reason: str = ""
    user_agent: str = ""  # of our own pixel's or redirect's request, until judged; never stored

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
            attempt=self.attempt, raw=_compact_json(_without_personal(self.raw)),
            new_status=status, status_reason=f"{self.source} {self.type}" if status else "",
            verdict=self.verdict, verdict_reason=self.verdict_reason,
        )


#: Keys of a provider's raw event never stored: the client's address and user agent (read only to judge).
PERSONAL_RAW_KEYS = ("ip", "useragent")


def _without_personal(raw: dict[str, Any]) -> dict[str, Any]:
    if "ip" in raw or "useragent" in raw:
        return {k: v for k, v in raw.items() if k not in PERSONAL_RAW_KEYS}
    return raw


def _compact_json(value: dict[str, Any]) -> str:
    """``value`` as compact UTF-8 JSON (NaN and infinities, which JSON lacks, become null)."""
    import orjson  # several times faster than json.dumps; it refuses integers over 64 bits, which json writes

    try:
        return orjson.dumps(value).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


