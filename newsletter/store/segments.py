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
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

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
