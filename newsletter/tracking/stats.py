"""What each send did: the figures behind ``newsletter stats``.

Counts are of distinct recipients (a subscriber who opens five times is one
open). Every open and click is judged human, machine or unknown
(``tracking.verdicts``); a recipient counts under the best verdict of their
events, and a click counts as an open too. The headline figures and rates
are of human opens and clicks; machine and unknown ones are reported beside
them. Rates are taken over delivered messages when the provider reports
deliveries (SendGrid), else over messages the backend accepted (outbox, SMTP).
"""

from __future__ import annotations

import builtins
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter.errors import InputError
from newsletter.store import events as event_store

if TYPE_CHECKING:
    import sqlite3

    from newsletter.settings import Settings
    from newsletter.store import DB

OPEN_RATE_NOTE = (
    "Opens and clicks are of people (human verdicts); Apple Mail Privacy Protection's pre-loads and"
    " link scanners' fetches are counted apart as machine, and events we cannot judge as unknown."
)


@dataclass
class LinkStats:
    """Clicks on one link of a send."""

    url: str
    clicks: int
    unique_clicks: int


@dataclass
class SendStats:
    """The figures of one send."""

    send_id: int
    slug: str
    list: str
    subject: str
    backend: str
    status: str
    created_at: str
    recipients: int
    accepted: int
    delivered: int
    bounced: int
    human_opens: int
    machine_opens: int
    unknown_opens: int
    open_rate: float | None  # of human opens
    human_clicks: int
    machine_clicks: int
    unknown_clicks: int
    click_rate: float | None  # of human clicks
    unique_opens: int  # recipients with an open event, whatever its verdict
    unique_clicks: int  # recipients with a click event, whatever its verdict
    unsubscribes: int
    spam_reports: int
    rate_base: str
    top_links: builtins.list[LinkStats] = field(default_factory=builtins.list)  # `list` is a field here
    open_rate_note: str = OPEN_RATE_NOTE
    #: Whether anyone reports delivery for this send (SendGrid's events do; an SMTP server or the outbox
    #: does not, so its ``delivered`` 0 means "unknown", not "none").
    delivery_reported: bool = True

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (``stats --json``)."""
        return asdict(self)


def issue_slug(target: str) -> str:
    """The slug ``target`` names: an issue file's slug (compose's rule), or ``target`` itself."""
    path = Path(target)
    if not (target.endswith((".md", ".markdown")) or path.is_file()):
        return target
    if not path.is_file():
        raise InputError("no such issue file", subject=target)
    from newsletter.compose.source import read_slug

    return read_slug(path)


def _rate(part: int, base: int) -> float | None:
    return round(part / base, 4) if base else None


def stats_for_send(conn: DB, send: sqlite3.Row, top: int = 10) -> SendStats:
    """The figures of one send row (from ``store.events.find_sends``)."""
    from newsletter.store import ledger
    from newsletter.store.engagement import verdict_counts
    from newsletter.store.ledger import Totals

    totals = Totals.from_counts(ledger.counts(conn, send["id"]))
    return make_stats(send, totals, event_store.event_counts(conn, send["id"]), verdict_counts(conn, send["id"]),
                      event_store.top_links(conn, send["id"], top))


def make_stats(send: Any, totals: Any, counts: dict[str, int], people: dict[str, int],
               links: builtins.list[tuple[str, int, int]]) -> SendStats:
    """``SendStats`` from a send row, its ledger ``Totals``, ``event_counts``, ``verdict_counts`` and ``top_links``."""
    recipients, accepted = totals.recipients, totals.accepted
    delivered = counts["delivered"]
    base, base_name = (delivered, "delivered") if delivered else (accepted, "accepted")
    return SendStats(
        send_id=send["id"], slug=send["slug"], list=send["list_name"], subject=send["subject"],
        backend=send["backend"], status=totals.status, created_at=send["created_at"],
        recipients=recipients, accepted=accepted, delivered=delivered, bounced=counts["bounced"],
        human_opens=people["opens_human"], machine_opens=people["opens_machine"],
        unknown_opens=people["opens_unknown"], open_rate=_rate(people["opens_human"], base),
        human_clicks=people["clicks_human"], machine_clicks=people["clicks_machine"],
        unknown_clicks=people["clicks_unknown"], click_rate=_rate(people["clicks_human"], base),
        unique_opens=counts["opens"], unique_clicks=counts["clicks"], unsubscribes=counts["unsubscribes"],
        spam_reports=counts["spam_reports"], rate_base=base_name,
        top_links=[LinkStats(url, clicks, people) for url, clicks, people in links],
        delivery_reported=send["backend"] == "sendgrid" or delivered > 0,
    )


def collect_stats(settings: Settings, target: str | None = None, top: int = 10) -> list[SendStats]:
    """Stats of every send, or of the sends of one issue (an ISSUE.md path or a slug)."""
    from newsletter.store import connect

    slug = issue_slug(target) if target else None
    conn = connect(settings.newsletter_database)
    try:
        sends = event_store.find_sends(conn, slug)
        if slug is not None and not sends:
            raise InputError("no send found for this issue", subject=slug)
        return [stats_for_send(conn, send, top) for send in sends]
    finally:
        conn.close()
