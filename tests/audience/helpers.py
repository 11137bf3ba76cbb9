"""Helpers shared by the audience tests in tests/audience and tests/server (``from tests.audience.helpers
import ...``): people on lists, signups, confirmation emails read back."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path
from typing import Any

from newsletter.store import connect, transaction
from newsletter.store import subscribers as people

CONFIRM_LINK = re.compile(r"https?://\S+/confirm/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")


def add_people(database: str, list_name: str, rows: list[tuple[str, dict[str, Any]]], *, signup: bool | None = None,
               title: str = "") -> list[int]:
    """Put ``(email, attributes)`` rows on ``list_name`` (created as needed) as active members; return their ids."""
    conn = connect(database)
    try:
        with transaction(conn):
            list_id = people.save_list(conn, list_name, title=title or None, signup=signup)
            ids = []
            for address, attributes in rows:
                sid, _, _ = people.upsert_subscriber(conn, address, "", attributes)
                people.add_membership(conn, list_id, sid)
                ids.append(sid)
        return ids
    finally:
        conn.close()


def query(database: str, sql: str, *params: Any) -> list[tuple]:
    """Rows of ``sql`` on the database (reading what the code under test wrote)."""
    conn = connect(database)
    try:
        return [tuple(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def membership(database: str, address: str, list_name: str) -> str | None:
    """The membership status of ``address`` on ``list_name``, or None."""
    rows = query(database, "SELECT m.status FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id"
                 " JOIN lists l ON l.id = m.list_id WHERE s.email_key = ? AND l.name = ?", address.lower(), list_name)
    return rows[0][0] if rows else None


def confirmation_files(outbox: str | Path) -> list[Path]:
    """Every confirmation email the outbox backend wrote, oldest folder first."""
    folder = Path(outbox) / "confirmations"
    return sorted(folder.glob("*/*.eml"), key=lambda p: int(p.parent.name)) if folder.is_dir() else []


def read_confirmation(path: Path) -> tuple[Any, str, str]:
    """``(message, text part, confirm URL)`` of a confirmation .eml file."""
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()
    found = CONFIRM_LINK.search(text)
    assert found, f"no confirm link in {path}:\n{text}"
    return message, text, found.group(0)
