"""Segments: members of a list whose attributes match conditions.

``save_segment`` and ``list_segments`` back ``newsletter segments``; the
conditions are read by ``store.segments.parse_conditions``, and a send's
audience (a list, ``--where`` and ``--segment``) is ``store.segments.Audience``.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from newsletter.errors import InputError
from newsletter.settings import Settings
from newsletter.store.segments import Condition, parse_conditions

if TYPE_CHECKING:
    from newsletter.store import DB

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _open(settings: Settings) -> DB:
    from newsletter.store import connect

    return connect(settings.newsletter_database)


@dataclass(frozen=True)
class SegmentInfo:
    """A saved segment with the number of active list members it matches now."""

    name: str
    list: str
    conditions: builtins.list[Condition]  # `list` is the field above
    members: int
    updated_at: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (``segments --json``)."""
        return {"name": self.name, "list": self.list, "where": [str(c) for c in self.conditions],
                "members": self.members, "updated_at": self.updated_at}


def save_segment(name: str, list_name: str, wheres: Iterable[str], settings: Settings) -> tuple[str, SegmentInfo]:
    """Create or replace segment ``name`` of list ``list_name``; return ``('created'|'updated', info)``."""
    from newsletter.store import segments as store
    from newsletter.store import subscribers as people
    from newsletter.store import transaction

    if not _NAME.fullmatch(name or ""):
        raise InputError("a segment name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
                         subject=name or "NAME")
    conditions = parse_conditions(wheres)
    if not conditions:
        raise InputError("a segment needs at least one --where KEY=VALUE", subject="--where")
    conn = _open(settings)
    try:
        with transaction(conn):
            list_id = people.find_list(conn, list_name)
            if list_id is None:
                raise InputError("no such list (see `newsletter lists`)", subject=list_name)
            action = store.save_segment(conn, name, list_id, conditions)
        saved = store.get_segment(conn, name)
        assert saved is not None  # saved just now, in this connection
        return action, _info(conn, saved)
    finally:
        conn.close()


def _info(conn: DB, segment: dict[str, Any]) -> SegmentInfo:
    from newsletter.store import segments as store

    members = store.count_matching(conn, segment["list_id"], segment["conditions"])
    return SegmentInfo(segment["name"], segment["list"], segment["conditions"], members, segment["updated_at"])


def list_segments(settings: Settings) -> list[SegmentInfo]:
    """Every saved segment with its current member count."""
    from newsletter.store import segments as store

    conn = _open(settings)
    try:
        return [_info(conn, s) for s in store.list_segments(conn)]
    finally:
        conn.close()
