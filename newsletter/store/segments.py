"""SQL for segments: conditions on subscribers' attributes, and saved segments.

A condition is ``(key, op, value)`` with ``op`` '=' or '!='. ``where_sql``
turns a list of them into one SQL fragment over the subscribers alias ``s``
(all conditions must hold), with its parameters; the send engine adds it to
its recipient query. Attributes are the JSON object in
``subscribers.attributes``; values compare as text, exactly (case matters).
``KEY!=VALUE`` also matches members who have no ``KEY`` at all.

``attribute_sql`` asks the database's dialect how to read one key of the
JSON (``store/dialect.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from newsletter.errors import InputError
from newsletter.store import DB
from newsletter.store.dialect import SQLITE, Dialect
from newsletter.store.subscribers import ON_LIST, utcnow

OPERATORS = ("=", "!=")


class Condition(NamedTuple):
    """One condition on an attribute: ``key op value``."""

    key: str
    op: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.value}"


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


#: How an audience key names the send whose non-readers it is ('non-readers-of:12').
NON_READERS_OF = "non-readers-of:"
#: How the ledger names the audience of a sequence's steps ('sequence:welcome'; ``store.sequences``).
SEQUENCE_PREFIX = "sequence:"


@dataclass(frozen=True)
class Audience:
    """Who a send is for: the active members of list ``list_name`` matching every condition and,
    for a resend (``non_readers_of``), only those who received that send and did not read it; for a step
    of a welcome email or sequence (``sequence``), the sequence's members when the step is due for them.

    The one definition the engine, the gate, approvals and the worker share,
    built once from a send's options (``resolve``). ``key`` names it in the
    ledger (``sends.audience``), ``as_dict`` in builds and approvals, ``sql``
    in the recipient queries (the conditions; who read a send is
    ``store.sends``' business). Conditions are kept sorted and distinct, so two
    audiences that select the same members compare equal.
    """

    list_name: str = ""
    conditions: tuple[Condition, ...] = ()
    non_readers_of: int | None = None  # a resend: the send whose non-readers this is
    sequence: str | None = None  # a sequence step: the sequence (its members grow with every signup)

    @classmethod
    def of(cls, list_name: str, conditions: Iterable[Condition], non_readers_of: int | None = None,
           sequence: str | None = None) -> Audience:
        """From a list name and conditions in any order (duplicates dropped)."""
        unique = {str(c): c for c in conditions}
        return cls(list_name, tuple(unique[text] for text in sorted(unique)), non_readers_of, sequence)

    @property
    def where_key(self) -> str:
        """The conditions alone as one text ('' for none)."""
        return " ".join(str(c) for c in self.conditions)

    @property
    def key(self) -> str:
        """How the ledger names the audience: the conditions as one text ('' for the whole list), after
        'non-readers-of:12' for a resend, so a resend is a send of its own (its own ledger rows); a sequence
        step's first round is 'sequence:NAME'."""
        if self.sequence is not None:
            return f"{SEQUENCE_PREFIX}{self.sequence}"
        if self.non_readers_of is None:
            return self.where_key
        return " ".join(part for part in (f"{NON_READERS_OF}{self.non_readers_of}", self.where_key) if part)

    def describe(self) -> str:
        """'list news where city=Oslo', 'list news, non-readers of send 12', 'list news, sequence welcome',
        or 'no list'."""
        if not self.list_name:
            return "no list"
        resend = f", non-readers of send {self.non_readers_of}" if self.non_readers_of is not None else ""
        resend += f", sequence {self.sequence}" if self.sequence is not None else ""
        return f"list {self.list_name}{resend}" + (f" where {self.where_key}" if self.conditions else "")

    def as_dict(self) -> dict[str, Any]:
        """JSON/TOML-friendly form (builds, approvals); ``non_readers_of`` only for a resend and ``sequence``
        only for a sequence step, so the builds (and approvals) of every other audience stay what they were."""
        found: dict[str, Any] = {"list": self.list_name, "where": [str(c) for c in self.conditions]}
        if self.non_readers_of is not None:
            found["non_readers_of"] = self.non_readers_of
        if self.sequence is not None:
            found["sequence"] = self.sequence
        return found

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Audience:
        """Back from ``as_dict``."""
        data = data or {}
        source, sequence = data.get("non_readers_of"), data.get("sequence")
        return cls.of(str(data.get("list", "")), parse_conditions(data.get("where") or ()),
                      int(source) if source is not None else None, str(sequence) if sequence is not None else None)

    def sql(self, dialect: Dialect = SQLITE) -> tuple[str, tuple[Any, ...]]:
        """``(where, params)`` of the conditions over the subscribers alias ``s`` ('' for none)."""
        if not self.conditions:
            return "", ()
        where, params = where_sql(self.conditions, dialect=dialect)
        return where, tuple(params)


def resolve(conn: DB | None, list_name: str, where: Iterable[str] = (), segment: str | None = None, *,
            list_id: int | None = None, non_readers_of: int | None = None) -> Audience:
    """The audience of ``--list``, ``--where``, ``--segment`` and ``--to-non-readers-of`` (``InputError``
    for a bad segment; the send ``non_readers_of`` names is checked by ``store.sends.check_source``).

    A saved segment is read from ``conn``; with ``list_id`` it must belong to that list.
    """
    conditions = parse_conditions(where)
    if segment:
        found = get_segment(conn, segment) if conn is not None else None
        if found is None:
            raise InputError("no such segment (see `newsletter segments`)", subject=segment)
        if list_id is not None and found["list_id"] != list_id:
            raise InputError(f"the segment belongs to another list, not {list_name!r}", subject=segment)
        conditions = list(found["conditions"]) + conditions
    return Audience.of(list_name, conditions, non_readers_of)


def attribute_sql(key: str, alias: str = "s", dialect: Dialect = SQLITE) -> tuple[str, list[Any]]:
    """SQL for the text value of attribute ``key`` of ``alias`` (NULL when absent), and its parameters."""
    return dialect.json_text(f"{alias}.attributes", key)


def where_sql(conditions: Sequence[Condition], alias: str = "s", dialect: Dialect = SQLITE) -> tuple[str, list[Any]]:
    """``(sql, params)``: a fragment true for subscribers matching every condition ('1 = 1' for none)."""
    parts: list[str] = []
    params: list[Any] = []
    for condition in conditions:
        if condition.op not in OPERATORS:
            raise ValueError(f"unknown operator {condition.op!r}")
        value, value_params = attribute_sql(condition.key, alias, dialect)
        if condition.op == "=":
            parts.append(f"{value} = ?")
            params += [*value_params, condition.value]
        else:
            parts.append(f"({value} IS NULL OR {value} != ?)")
            params += [*value_params, *value_params, condition.value]
    return (" AND ".join(parts) or "1 = 1"), params


def iter_matching(
    conn: DB, list_id: int, conditions: Sequence[Condition], *, page: int = 1000
) -> Iterator[tuple[int, str]]:
    """``(subscriber_id, email)`` of the list's active members matching ``conditions``, in id order."""
    where, params = where_sql(conditions, dialect=conn.dialect)
    after = 0
    while True:
        rows = conn.execute(
            "SELECT s.id, s.email FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id"
            f" WHERE m.list_id = ? AND {ON_LIST} AND s.id > ? AND {where} ORDER BY s.id LIMIT ?",
            (list_id, after, *params, page),
        ).fetchall()
        if not rows:
            return
        yield from ((r[0], r[1]) for r in rows)
        after = rows[-1][0]


def count_matching(conn: DB, list_id: int, conditions: Sequence[Condition]) -> int:
    """How many active members of the list match ``conditions``."""
    where, params = where_sql(conditions, dialect=conn.dialect)
    return conn.execute(
        "SELECT COUNT(*) FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id"
        f" WHERE m.list_id = ? AND {ON_LIST} AND {where}",
        (list_id, *params),
    ).fetchone()[0]


def save_segment(conn: DB, name: str, list_id: int, conditions: Sequence[Condition]) -> str:
    """Create or replace segment ``name``; return 'created' or 'updated'."""
    now = utcnow()
    encoded = json.dumps([list(c) for c in conditions], ensure_ascii=False)
    existing = conn.execute("SELECT id FROM segments WHERE name = ?", (name,)).fetchone()
    if existing is None:
        conn.execute(
            "INSERT INTO segments (name, list_id, conditions, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            (name, list_id, encoded, now, now),
        )
        return "created"
    conn.execute(
        "UPDATE segments SET list_id = ?, conditions = ?, updated_at = ? WHERE id = ?",
        (list_id, encoded, now, existing[0]),
    )
    return "updated"


def _segment(row: Any) -> dict[str, Any]:
    return {
        "name": row["name"],
        "list": row["list"],
        "list_id": row["list_id"],
        "conditions": [Condition(*c) for c in json.loads(row["conditions"])],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


_SELECT = "SELECT g.*, l.name AS list FROM segments g JOIN lists l ON l.id = g.list_id"


def get_segment(conn: DB, name: str) -> dict[str, Any] | None:
    """Segment ``name`` as ``{name, list, list_id, conditions, created_at, updated_at}``, or ``None``."""
    row = conn.execute(f"{_SELECT} WHERE g.name = ?", (name,)).fetchone()
    return _segment(row) if row else None


def list_segments(conn: DB) -> list[dict[str, Any]]:
    """Every saved segment, by name."""
    return [_segment(r) for r in conn.execute(f"{_SELECT} ORDER BY g.name")]
