"""A send's status, derived from its ledger rows and whether a run of it is live (never stored)."""

from __future__ import annotations

from typing import Any

from newsletter.delivery.lease import live_runs
from newsletter.store import DB


def statuses(conn: DB, send_id: int | None = None) -> list[dict[str, Any]]:
    """Every send (or one) with its ledger counts, ``status`` and ``totals`` (``store.ledger.Totals``), newest first."""
    from newsletter.store import sends
    from newsletter.store.ledger import Totals

    live = {run.send_id for run in live_runs(conn, send_id)}
    rows = sends.listing(conn, send_id)
    for row in rows:
        totals = Totals.from_counts(row, live=row["id"] in live)
        row.update({"status": totals.status, "totals": totals})
    return rows
