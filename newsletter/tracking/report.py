"""The figures of the dashboard's pages: the sends, one send in depth, and the lists.

Computed here from the store (``store.dashboard``) and drawn by the server
(``server/dashboard*.py``), and by ``newsletter stats --html`` into one file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from newsletter.store import dashboard as store
from newsletter.store.ledger import Totals
from newsletter.tracking import providers

if TYPE_CHECKING:
    from newsletter.store import DB
    from newsletter.tracking.stats import SendStats

#: Hours the send page charts opens and clicks over, from the send's start.
HOURS = 72
#: Receiving domains listed for bounces and complaints.
TOP_DOMAINS = 10


@dataclass
class SendSummary:
    """One row of the sends page: what the ledger says, live while a run holds the send."""

    send_id: int
    slug: str
    subject: str
    list_name: str
    backend: str
    created_at: str
    status: str
    recipients: int
    accepted: int
    failed: int
    in_doubt: int
    pending: int
    in_flight: int
    live: bool


def send_summaries(conn: DB, send_id: int | None = None) -> list[SendSummary]:
    """Every send (or one), newest first, with its status and counts from the ledger."""
    return send_summaries_from(store.sends(conn, send_id), store.live_send_ids(conn))


def send_summaries_from(rows: list[dict[str, Any]], live: set[int]) -> list[SendSummary]:
    """``SendSummary`` of ``store.dashboard.sends`` rows, given the sends a run holds."""
    found = []
    for row in rows:
        running = row["id"] in live and row["claimed"] + row["sending"] > 0
        totals = Totals.from_counts(row, live=running)
        found.append(SendSummary(
            send_id=row["id"], slug=row["slug"], subject=row["subject"], list_name=row["list_name"],
            backend=row["backend"], created_at=row["created_at"], status=totals.status,
            recipients=totals.recipients, accepted=totals.accepted, failed=totals.failed, in_doubt=totals.in_doubt,
            pending=totals.pending, in_flight=totals.in_flight, live=running,
        ))
    return found


@dataclass
class Hour:
    """Opens and clicks (events, by verdict) in one hour after the send started."""

    hour: int
    human_opens: int = 0
    human_clicks: int = 0
    machine_opens: int = 0
    machine_clicks: int = 0


@dataclass
class DomainRow:
    """Bounces and complaints at one receiving domain."""

    domain: str
    recipients: int
    bounced: int
    complaints: int


@dataclass
class ProviderRow:
    """Results at one mailbox provider (by the recipients' domains)."""

    provider: str
    recipients: int = 0
    accepted: int = 0
    delivered: int = 0
    bounced: int = 0
    human_opens: int = 0
    human_clicks: int = 0
    machine_opens: int = 0
    unsubscribes: int = 0
    complaints: int = 0

    @property
    def open_rate(self) -> float | None:
        """Human opens over delivered (SendGrid) or accepted messages."""
        base = self.delivered or self.accepted
        return round(self.human_opens / base, 4) if base else None


@dataclass
class SendReport:
    """Everything the send page shows."""

    summary: SendSummary
    stats: SendStats
    started_at: str
    funnel: list[tuple[str, int]]
    hours: list[Hour]
    domains: list[DomainRow]
    providers: list[ProviderRow] = field(default_factory=list)
    subject_test: dict[str, Any] | None = None  # store.subject_tests.get, with ``counts`` per variant


def _hour_start(iso: str) -> datetime:
    parsed = datetime.strptime(iso[:13], "%Y-%m-%dT%H")
    return parsed.replace(tzinfo=UTC)


def _from_rollups(conn: DB, send_id: int) -> tuple[dict[tuple[str, str], int], dict[str, int], dict[str, int]]:
    """The send's roll-ups caught up: ``(per domain, event_counts-like totals, verdict_counts-like totals)``,
    each total adding the few events that matched no subscriber, counted from the events."""
    from newsletter.store import engagement, rollups
    from newsletter.store import events as event_store

    rollups.catch_up(conn, send_id)
    by_domain = rollups.domain_counts(conn, send_id)
    what: dict[str, int] = {}
    for (_, key), n in by_domain.items():
        what[key] = what.get(key, 0) + n
    counts = event_store.event_counts(conn, send_id, matched=False)
    for name, key in (("delivered", "delivered"), ("bounced", "bounced"), ("unsubscribes", "unsubscribed"),
                      ("spam_reports", "complained")):
        counts[name] += what.get(key, 0)
    # Recipients with an open or a click (the roll-up does not tell opens without clicks apart).
    counts["opens"] += sum(what.get(f"open:{v}", 0) for v in ("human", "unknown", "machine"))
    counts["clicks"] += sum(what.get(f"click:{v}", 0) for v in ("human", "unknown", "machine"))
    people = engagement.verdict_counts(conn, send_id, matched=False)
    for kind, key in (("opens", "open"), ("clicks", "click")):
        for verdict in ("human", "unknown", "machine"):
            people[f"{kind}_{verdict}"] += what.get(f"{key}:{verdict}", 0)
    return by_domain, counts, people


def send_report(conn: DB, send_id: int) -> SendReport | None:
    """The send page's figures, or None if there is no such send.

    Reads the send's roll-ups (``store.rollups``, caught up first) rather than its events, so the
    page of a send with a million events reads a few hundred rows.
    """
    from newsletter.store import events as event_store
    from newsletter.store import rollups
    from newsletter.tracking.stats import make_stats

    rows = store.sends(conn, send_id)
    if not rows:
        return None
    sends = rows[0]
    live = send_id in store.live_send_ids(conn) and sends["claimed"] + sends["sending"] > 0
    summary = send_summaries_from(rows, {send_id} if live else set())[0]
    by_domain, counts, people = _from_rollups(conn, send_id)
    row = {**sends, "list_name": sends["list_name"]}
    stats = make_stats(row, Totals.from_counts(sends, live=live), counts, people, event_store.top_links(conn, send_id, 10))
    started = sends["started_at"] or store.first_event_at(conn, send_id) or sends["created_at"]
    start = _hour_start(started)
    hours = [Hour(h) for h in range(HOURS)]
    until = (start + timedelta(hours=HOURS)).strftime("%Y-%m-%dT%H")
    for hour, kind, verdict, n in rollups.hour_counts(conn, send_id, start.strftime("%Y-%m-%dT%H"), until):
        index = int((_hour_start(hour) - start).total_seconds() // 3600)
        if 0 <= index < HOURS and verdict in ("human", "machine"):
            name = f"{verdict}_{'opens' if kind == 'open' else 'clicks'}"
            setattr(hours[index], name, getattr(hours[index], name) + n)
    funnel = [("Recipients", summary.recipients), ("Accepted", summary.accepted)]
    if stats.delivered:
        funnel.append(("Delivered", stats.delivered))
    funnel += [("Human opens", stats.human_opens), ("Human clicks", stats.human_clicks),
               ("Unsubscribes", stats.unsubscribes), ("Complaints", stats.spam_reports)]
    recipients = store.recipient_domains(conn, send_id, summary.recipients, summary.accepted, keep=not summary.live)
    domains = [DomainRow(d, n, by_domain.get((d, "bounced"), 0), by_domain.get((d, "complained"), 0))
               for d, (n, _) in recipients.items()]
    domains = sorted((d for d in domains if d.bounced or d.complaints),
                     key=lambda d: (-(d.bounced + d.complaints), d.domain))[:TOP_DOMAINS]
    by_provider = {name: ProviderRow(name) for name in providers.ORDER}
    for d, (n, accepted) in recipients.items():
        p = by_provider[providers.provider_of(d)]
        p.recipients += n
        p.accepted += accepted
    columns = {"delivered": "delivered", "bounced": "bounced", "open:human": "human_opens", "click:human": "human_clicks",
               "open:machine": "machine_opens", "unsubscribed": "unsubscribes", "complained": "complaints"}
    for (d, what), n in by_domain.items():
        column = columns.get(what)
        if column:
            p = by_provider[providers.provider_of(d)]
            setattr(p, column, getattr(p, column) + n)
    return SendReport(summary=summary, stats=stats, started_at=start.strftime("%Y-%m-%dT%H:00Z"), funnel=funnel,
                      hours=hours, domains=domains, providers=[p for p in by_provider.values() if p.recipients],
                      subject_test=_subject_test(conn, send_id))


def _subject_test(conn: DB, send_id: int) -> dict[str, Any] | None:
    """The send's subject test with ``counts``: those its pick was made on, or (undecided) the counts now."""
    from newsletter.store import subject_tests

    test = subject_tests.get(conn, send_id)
    if test is None:
        return None
    counts = test["results"] if test["winner"] is not None else subject_tests.variant_counts(conn, send_id)
    return {**test, "counts": counts}


def collect_reports(settings: Any, target: str) -> list[SendReport]:
    """The send pages of the sends of one issue (an ISSUE.md path or a slug): ``stats --html``."""
    from newsletter.errors import InputError
    from newsletter.store import events as event_store
    from newsletter.store import session
    from newsletter.tracking.stats import issue_slug

    slug = issue_slug(target)
    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        found = [send_report(conn, row["id"]) for row in event_store.find_sends(conn, slug)]
    reports = [r for r in found if r is not None]
    if not reports:
        raise InputError("no send found for this issue", subject=slug)
    return reports


#: A send with more recipients than this is rolled up by domain once, in the background, before its page shows.
LARGE_SEND = 50_000


def needs_preparing(conn: DB, send_id: int) -> bool:
    """True when the send page would first have to do long work (a large send seen for the first time,
    or a large batch of new events): the server does it in the background and shows a notice meanwhile."""
    from newsletter.store import rollups

    if rollups.needs_rebuild(conn, send_id):
        return True
    rows = store.sends(conn, send_id)
    return bool(rows) and rows[0]["recipients"] > LARGE_SEND and not store.domains_rolled_up(conn, send_id)


@dataclass
class ListReport:
    """A list's members now and week by week (from the consent records)."""

    list_id: int
    name: str
    title: str
    members: int
    pending: int
    weeks: list[tuple[str, int, int, int]]  # (Monday 'YYYY-MM-DD', joined, left, members at the week's end)


def _monday(day: str) -> str:
    d = date.fromisoformat(day)
    return (d - timedelta(days=d.weekday())).isoformat()


def list_reports(conn: DB, weeks: int = 26) -> list[ListReport]:
    """Every list with its last ``weeks`` weeks of joins, leaves and members (counted back from today's members)."""
    moves: dict[int, dict[str, list[int]]] = {}
    for list_id, day, joined, left in store.joins_and_leaves(conn):
        week = moves.setdefault(list_id, {}).setdefault(_monday(day), [0, 0])
        week[0] += joined
        week[1] += left
    this_week = date.fromisoformat(_monday(datetime.now(UTC).date().isoformat()))
    mondays = [(this_week - timedelta(weeks=w)).isoformat() for w in range(weeks - 1, -1, -1)]
    found = []
    for row in store.lists(conn):
        by_week = moves.get(row["id"], {})
        members = int(row["members"])
        series: list[tuple[str, int, int, int]] = []
        for monday in reversed(mondays):  # walk back from today's count
            joined, left = by_week.get(monday, [0, 0])
            series.append((monday, joined, left, max(members, 0)))
            members -= joined - left
        found.append(ListReport(row["id"], row["name"], row["title"], int(row["members"]), int(row["pending"]),
                                list(reversed(series))))
    return found
