"""SQL for judging opens and clicks (what was seen before of the same recipient's copy)
and for counting recipients by their best verdict.

A recipient's verdict is the best of their events' (human, then unknown, then
machine), as ``tracking.verdicts.RANK`` orders them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from newsletter.store import DB

# Keys are looked up in chunks well under SQLite's bound-variable limit (one JSON parameter per chunk anyway).
_CHUNK = 1000


@dataclass
class Histories:
    """What happened before to recipients' copies, by ``(send_id, subscriber_id)`` (times as ISO strings)."""

    accepted_at: dict[tuple[int, int], str] = field(default_factory=dict)  # the ledger's hand-over
    delivered_at: dict[tuple[int, int], list[str]] = field(default_factory=dict)  # the provider's, in the window
    canary_at: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    clicks: dict[tuple[int, int], list[tuple[int, str, str]]] = field(default_factory=dict)  # (id, at, verdict)
    click_keys: set[str] = field(default_factory=set)  # de-duplication keys of those clicks


def histories(conn: DB, pairs: Iterable[tuple[int, int]], clicking: Iterable[tuple[int, int]] = (),
              since: str = "", until: str = "") -> Histories:
    """For each ``(send_id, subscriber_id)``: the ledger's hand-over time, the provider's ``delivered``
    events and the fetches of the canary link; and for the ``clicking`` pairs, their clicks. Events
    are read between ``since`` and ``until`` only (ISO times: the reach of the rules around a batch),
    each from an index range, so judging a batch costs the same late in an import of a million
    events as early on."""
    found = Histories()
    dialect = conn.dialect
    for send_id, people in _by_send(pairs).items():
        for start in range(0, len(people), _CHUNK):
            ids = dialect.id_list(people[start : start + _CHUNK])
            for subscriber_id, at in conn.execute(
                    "SELECT subscriber_id, updated_at FROM deliveries"
                    f" WHERE send_id = ? AND state = 'accepted' AND {dialect.id_in('subscriber_id')}", (send_id, ids)):
                found.accepted_at[(send_id, subscriber_id)] = at
            # A message is delivered once (a few times at most) and a canary seldom fetched: few rows each.
            for kind, into in (("delivered", found.delivered_at), ("canary", found.canary_at)):
                for subscriber_id, at in conn.execute(
                        "SELECT subscriber_id, occurred_at FROM events WHERE send_id = ? AND type = ?"
                        f" AND {dialect.id_in('subscriber_id')} AND occurred_at >= ? AND occurred_at <= ?",
                        (send_id, kind, ids, since, until)):
                    into.setdefault((send_id, subscriber_id), []).append(at)
    for send_id, people in _by_send(clicking).items():
        for start in range(0, len(people), _CHUNK):
            ids = dialect.id_list(people[start : start + _CHUNK])
            for event_id, subscriber_id, at, verdict, key in conn.execute(
                    "SELECT id, subscriber_id, occurred_at, verdict, event_key FROM events"
                    f" WHERE send_id = ? AND type = 'click' AND {dialect.id_in('subscriber_id')}"
                    " AND occurred_at >= ? AND occurred_at <= ? ORDER BY id", (send_id, ids, since, until)):
                found.clicks.setdefault((send_id, subscriber_id), []).append((event_id, at, verdict))
                if key:
                    found.click_keys.add(key)
    return found


def _by_send(pairs: Iterable[tuple[int, int]]) -> dict[int, list[int]]:
    by_send: dict[int, set[int]] = defaultdict(set)
    for send_id, subscriber_id in pairs:
        by_send[send_id].add(subscriber_id)
    return {send_id: sorted(people) for send_id, people in by_send.items()}


def mark_machine(conn: DB, event_ids: Sequence[int], reason: str) -> int:
    """Judge the stored events ``event_ids`` machine, for ``reason`` (a burst or canary found later),
    keeping the send roll-ups right (``rollups.rejudged``); inside the caller's transaction."""
    from newsletter.store import rollups

    if not event_ids:
        return 0
    dialect = conn.dialect
    ids = dialect.id_list(sorted(event_ids))
    before = [(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5]) for r in conn.execute(
        f"SELECT id, send_id, subscriber_id, type, occurred_at, verdict FROM events WHERE {dialect.id_in('id')}"
        " AND verdict != 'machine' AND send_id IS NOT NULL ORDER BY id", (ids,))]
    changed = conn.execute(
        f"UPDATE events SET verdict = 'machine', verdict_reason = ? WHERE {dialect.id_in('id')} AND verdict != 'machine'",
        (reason, ids),
    ).rowcount
    rollups.rejudged(conn, before, "machine")
    return changed


def copy_events(conn: DB, send_id: int, subscriber_id: int) -> list[tuple[int, str, str]]:
    """``(id, type, occurred_at)`` of the opens and clicks of one recipient's copy."""
    return [(r[0], r[1], r[2]) for r in conn.execute(
        "SELECT id, type, occurred_at FROM events WHERE send_id = ? AND subscriber_id = ? AND type IN ('open', 'click')",
        (send_id, subscriber_id))]


def verdict_counts(conn: DB, send_id: int, *, matched: bool | None = None) -> dict[str, int]:
    """Recipients of a send by their best verdict: ``{opens,clicks}_{human,unknown,machine}``.

    Opens count a recipient's clicks too (a click means the message was opened,
    and a human click upgrades an open a proxy made). Events that matched no
    subscriber count by address. ``matched``: only those that matched a subscriber
    (True) or only those that did not (False); both by default.
    """
    found = {f"{kind}_{verdict}": 0 for kind in ("opens", "clicks") for verdict in ("human", "unknown", "machine")}
    whom = {True: ("subscriber_id",), False: ("lower(email)",), None: ("subscriber_id", "lower(email)")}[matched]
    for kind, types in (("opens", "'open', 'click'"), ("clicks", "'click'")):
        for who in whom:
            which = "subscriber_id IS NOT NULL" if who == "subscriber_id" else "subscriber_id IS NULL"
            # Recipients with a human event, with a human or unknown one, with any: each read from the
            # index on (send_id, type, verdict, subscriber_id) alone; the best verdict follows by difference.
            # "type IN ('open', 'click')" is the partial index's condition, word for word.
            human, not_machine, anyone = conn.execute(
                f"SELECT COUNT(DISTINCT {who}) FILTER (WHERE verdict = 'human'),"
                f" COUNT(DISTINCT {who}) FILTER (WHERE verdict != 'machine'), COUNT(DISTINCT {who})"
                f" FROM events WHERE send_id = ? AND type IN ('open', 'click') AND type IN ({types}) AND {which}",
                (send_id,)).fetchone()
            found[f"{kind}_human"] += int(human)
            found[f"{kind}_unknown"] += int(not_machine) - int(human)
            found[f"{kind}_machine"] += int(anyone) - int(not_machine)
    return found
