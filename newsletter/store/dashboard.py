"""SQL behind the dashboard's pages (``newsletter serve``'s ``/admin``): sends with their ledger
counts, a send's recipients by receiving domain, and lists' joins and leaves (a send's events
are read from their roll-ups, ``rollups.py``).

The writes here are caches of what a finished send no longer changes: its ledger counts
(``send_ledger_cache``) and its recipients by domain (``send_domains``), made the first time
it is shown, so that the page of a million recipients does not count the ledger or join it to
the subscribers each time.
"""

from __future__ import annotations

import json
from typing import Any

from newsletter.store import DB, transaction
from newsletter.store.ledger import STATES
from newsletter.store.runs import open_runs

_STATES = tuple(str(state) for state in STATES)


def live_send_ids(conn: DB) -> set[int]:
    """Sends a run holds now: not ended, its lease not expired by the database's clock (``runs.is_live``
    without the process checks, which only the run's own host can make)."""
    return {run.send_id for run in open_runs(conn) if not run.expired}


def sends(conn: DB, send_id: int | None = None) -> list[dict[str, Any]]:
    """Every send (or one), newest first: its row, list name and ledger counts by state
    (the ``claimed_*`` columns count claimed rows by the state they had before).

    Counting a million ledger rows takes a second, so a send that no run holds and that no run
    has touched since is read from ``send_ledger_cache`` (every change to a send's ledger happens
    in a run: ``send``, its resumptions, retries and settlements).
    """
    rows = [dict(r) for r in conn.execute(
        "SELECT s.id, s.slug, s.subject, s.backend, s.created_at, s.started_at, s.finished_at,"
        " l.id AS list_id, l.name AS list_name,"
        " (SELECT MAX(r.id) FROM send_runs r WHERE r.send_id = s.id) AS last_run_id,"
        " (SELECT COUNT(*) FROM send_runs r WHERE r.send_id = s.id AND r.ended_at IS NULL) AS open_runs,"
        " c.last_run_id AS cached_run_id, c.counts AS cached"
        " FROM sends s JOIN lists l ON l.id = s.list_id LEFT JOIN send_ledger_cache c ON c.send_id = s.id"
        + (" WHERE s.id = ?" if send_id is not None else "") + " ORDER BY s.id DESC",
        (send_id,) if send_id is not None else ())]
    for row in rows:
        cached, cached_run, last_run, open_runs = (row.pop("cached"), row.pop("cached_run_id"), row.pop("last_run_id"),
                                                    row.pop("open_runs"))
        if cached is not None and not open_runs and cached_run == (last_run or 0):
            row.update(json.loads(cached))
            continue
        row.update(_ledger_counts(conn, row["id"]))
        if not open_runs:
            with transaction(conn):
                conn.execute(
                    "INSERT INTO send_ledger_cache (send_id, last_run_id, counts) VALUES (?, ?, ?)"
                    " ON CONFLICT (send_id) DO UPDATE SET last_run_id = excluded.last_run_id, counts = excluded.counts",
                    (row["id"], last_run or 0, json.dumps({k: row[k] for k in _COUNT_KEYS})))
    return rows


_COUNT_KEYS = ("recipients", *_STATES, "claimed_in_doubt", "claimed_failed")


def _ledger_counts(conn: DB, send_id: int) -> dict[str, int]:
    sums = ", ".join(f"COUNT(*) FILTER (WHERE state = '{s}') AS {s}" for s in _STATES)
    back = ", ".join(f"COUNT(*) FILTER (WHERE state = 'claimed' AND prior = '{s}') AS claimed_{s}"
                     for s in ("in_doubt", "failed"))
    row = conn.execute(f"SELECT COUNT(*) AS recipients, {sums}, {back} FROM deliveries WHERE send_id = ?",
                       (send_id,)).fetchone()
    return {k: int(row[k] or 0) for k in _COUNT_KEYS}


def first_event_at(conn: DB, send_id: int) -> str | None:
    """When the first open or click of a send happened (the hourly chart starts there if the send has no start)."""
    row = conn.execute("SELECT MIN(occurred_at) FROM events WHERE send_id = ? AND type IN ('open', 'click')",
                       (send_id,)).fetchone()
    return row[0] if row else None


def recipient_domains(conn: DB, send_id: int, recipients: int, accepted: int, *,
                      keep: bool) -> dict[str, tuple[int, int]]:
    """``{domain: (recipients, accepted)}`` of a send's ledger, from the roll-up when it is current.

    The roll-up is current when its counts add up to the ledger's ``recipients`` and
    ``accepted``; it is (re)written only when ``keep`` (no run holds the send, so the counts
    are final).
    """
    rolled = {r[0]: (int(r[1]), int(r[2])) for r in conn.execute(
        "SELECT domain, recipients, accepted FROM send_domains WHERE send_id = ?", (send_id,))}
    if rolled and (sum(n for n, _ in rolled.values()), sum(a for _, a in rolled.values())) == (recipients, accepted):
        return rolled
    domain = conn.dialect.email_domain("s.email")
    counted = {r[0]: (int(r[1]), int(r[2])) for r in conn.execute(
        f"SELECT {domain} AS domain, COUNT(*), COUNT(*) FILTER (WHERE d.state = 'accepted')"
        " FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE d.send_id = ? GROUP BY domain",
        (send_id,))}
    if keep:
        with transaction(conn):
            conn.execute("DELETE FROM send_domains WHERE send_id = ?", (send_id,))
            conn.executemany("INSERT INTO send_domains (send_id, domain, recipients, accepted) VALUES (?, ?, ?, ?)",
                             [(send_id, d, n, a) for d, (n, a) in counted.items()])
    return counted


def domains_rolled_up(conn: DB, send_id: int) -> bool:
    """True if the send's recipients were rolled up by domain (``recipient_domains``) at some point."""
    return conn.execute("SELECT 1 FROM send_domains WHERE send_id = ? LIMIT 1", (send_id,)).fetchone() is not None


def lists(conn: DB) -> list[dict[str, Any]]:
    """Every list with its members now (active on the list and as subscribers) and pending signups."""
    return [dict(r) for r in conn.execute(
        "SELECT l.id, l.name, l.title, l.created_at,"
        " COUNT(s.id) FILTER (WHERE m.status = 'active' AND s.status = 'active') AS members,"
        " COUNT(s.id) FILTER (WHERE m.status = 'pending') AS pending"
        " FROM lists l LEFT JOIN memberships m ON m.list_id = l.id LEFT JOIN subscribers s ON s.id = m.subscriber_id"
        " GROUP BY l.id, l.name, l.title, l.created_at ORDER BY l.name")]


def joins_and_leaves(conn: DB) -> list[tuple[int, str, int, int]]:
    """``(list id, day 'YYYY-MM-DD', joined, left)`` from the consent records: joined when confirmed, left when closed."""
    days: dict[tuple[int, str], list[int]] = {}
    for list_id, day, n in conn.execute(
            "SELECT list_id, substr(confirmed_at, 1, 10) AS day, COUNT(*) FROM consents"
            " WHERE confirmed_at IS NOT NULL GROUP BY list_id, day"):
        days.setdefault((int(list_id), day), [0, 0])[0] += int(n)
    for list_id, day, n in conn.execute(
            "SELECT list_id, substr(left_at, 1, 10) AS day, COUNT(*) FROM consents"
            " WHERE left_at IS NOT NULL AND confirmed_at IS NOT NULL GROUP BY list_id, day"):
        days.setdefault((int(list_id), day), [0, 0])[1] += int(n)
    return sorted((list_id, day, joined, left) for (list_id, day), (joined, left) in days.items())
