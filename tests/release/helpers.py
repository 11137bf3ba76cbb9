"""Helpers for release tests (``from tests.release.helpers import ...``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

ISSUE_FRONTMATTER = """
title: "Harbour news"
seo:
  url: https://news.example.org/blog/harbour
  description: What happened in the harbour
"""
ISSUE_BODY = """
Hello %%name%%.

Read [the post](https://news.example.org/blog/post) and [the docs](https://docs.example.org/start).
"""


class Clock:
    """A clock the test sets and moves (``clock()`` is the current moment, in UTC)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> None:
        """Move to ``moment``."""
        self.now = moment

    def advance(self, **delta: float) -> None:
        """Move forward by ``timedelta(**delta)``."""
        self.now += timedelta(**delta)


def edit(path: Path, old: str, new: str) -> None:
    """Replace ``old`` with ``new`` in the issue (``old`` must be there)."""
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def add_people(database: str, list_name: str, people: dict[str, dict[str, str]]) -> None:
    """Put ``{email: attributes}`` on list ``list_name`` (created if needed), all active."""
    from newsletter.store import connect, transaction
    from newsletter.store import subscribers as store

    conn = connect(database)
    with transaction(conn):
        list_id = store.ensure_list(conn, list_name)
        for email, attributes in people.items():
            sid, _, _ = store.upsert_subscriber(conn, email, "", attributes)
            store.add_membership(conn, list_id, sid)
    conn.close()
