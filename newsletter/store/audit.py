"""SQL for the audit log: every approve, schedule, start, pause, resume, cancel (and refuse, finish).

Rows are only ever added. An approval may come before its send exists, so a
row names the issue (slug) and list as well as the send.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from newsletter.store import DB, transaction

ACTIONS = ("approve", "schedule", "start", "pause", "resume", "cancel", "refuse", "finish")


class Logged(NamedTuple):
    """What an entry is about: an issue (``slug``) to a list, and its send once there is one."""

    send_id: int | None
    slug: str
    list_name: str


def record(conn: DB, action: str, about: Logged, *, at: str, actor: str = "", detail: str = "") -> None:
    """Add one entry to the audit log."""
    with transaction(conn):
        add(conn, action, about, at=at, actor=actor, detail=detail)


def add(conn: DB, action: str, about: Logged, *, at: str, actor: str = "", detail: str = "") -> None:
    """Add one entry inside the caller's transaction (``record`` opens its own)."""
    send_id, slug, list_name = about
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    conn.execute(
        "INSERT INTO audit_log (at, action, send_id, slug, list_name, actor, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (at, action, send_id, slug, list_name, actor, detail[:2000]),
    )


def entries(conn: DB, send_id: int, slug: str, list_name: str) -> list[dict[str, Any]]:
    """The log of send ``send_id`` (of issue ``slug`` to ``list_name``), that issue's approvals for the list, and
    refusals of it logged before any send of it existed (a sequence step waiting for approval).

    Oldest first.
    """
    rows = conn.execute(
        "SELECT at, action, send_id, slug, list_name, actor, detail FROM audit_log"
        " WHERE (send_id = ? AND slug = ?) OR ((action = 'approve' OR (action = 'refuse' AND send_id IS NULL))"
        " AND slug = ? AND list_name = ?) ORDER BY id",
        (send_id, slug, slug, list_name),
    ).fetchall()
    return [dict(r) for r in rows]
