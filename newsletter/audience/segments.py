"""Segments: members of a list whose attributes match conditions.

``parse_conditions`` reads ``--where`` options (``KEY=VALUE``, ``KEY!=VALUE``)
with one clear error per bad one; ``save_segment`` and ``list_segments``
back ``newsletter segments``. The send engine takes the conditions of
``--where`` or of a saved segment (``segment_conditions``) and adds
``store.segments.where_sql(conditions)`` to its recipient query.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from newsletter.errors import InputError
from newsletter.settings import Settings
from newsletter.store.segments import Condition

if TYPE_CHECKING:
    from newsletter.store import DB

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Characters a key may not hold: the operators, JSON path quotes and control characters.
_BAD_KEY = re.compile(r'[=!"\\\x00-\x1f\x7f-\x9f]')
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def parse_condition(text: str) -> Condition:
    """One ``KEY=VALUE`` or ``KEY!=VALUE``; ``InputError`` (subject ``--where``) saying what is wrong."""
    raw = text or ""
    cut = raw.find("=")
    if cut < 0:
        raise InputError(f"{raw!r} has no '=': write KEY=VALUE or KEY!=VALUE", subject="--where")
    op = "!=" if cut > 0 and raw[cut - 1] == "!" else "="
    key = raw[: cut - 1] if op == "!=" else raw[:cut]
    value = raw[cut + 1 :]
    key = key.strip()
    if not key:
        raise InputError(f"{raw!r} has no attribute name before {op!r}", subject="--where")
    if _BAD_KEY.search(key):
        raise InputError(f"attribute name {key!r} may not contain '=', '!', quotes, backslashes or control characters",
                         subject="--where")
    if _CONTROL.search(value):
        raise InputError(f"the value in {raw!r} has control characters", subject="--where")
    # Attribute names are stored lower-cased by import; match them the same way.
    return Condition(key.lower(), op, value.strip())


def parse_conditions(texts: Iterable[str]) -> list[Condition]:
    """Every ``--where`` option, parsed (see ``parse_condition``)."""
    return [parse_condition(text) for text in texts]


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


def segment_conditions(conn: DB, name: str) -> tuple[int, list[Condition]]:
    """``(list_id, conditions)`` of saved segment ``name``; ``InputError`` if there is none (for ``send --segment``)."""
    from newsletter.store import segments as store

    segment = store.get_segment(conn, name)
    if segment is None:
        raise InputError("no such segment (see `newsletter segments`)", subject=name)
    return segment["list_id"], segment["conditions"]
