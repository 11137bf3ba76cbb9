"""Roll-ups of a send's events, so that its dashboard page reads a few hundred rows, not a million.

``catch_up(conn, send_id)`` folds the send's events stored since the last time (event id above
``send_rollups.last_event_id``) into three tables:

- ``send_recipient_facts``: per recipient (subscriber), their domain, whether they were delivered,
  bounced, complained or unsubscribed, and the best verdict of their opens and of their clicks;
- ``send_domain_counts``: per receiving domain, recipients by each of those facts (``delivered``,
  ``bounced``, ``complained``, ``unsubscribed``, ``open:human`` ... ``click:machine``), kept as
  counters that change only when a recipient's fact does;
- ``send_hour_counts``: opens and clicks per hour, type and verdict.

An event judged again later (a burst or the canary found afterwards, ``engagement.mark_machine``)
moves its hour count at once and marks its recipient in ``send_rollup_dirty``; the next catch-up
works that recipient's facts out again from all their events. Events that matched no subscriber
are left to the callers (they count them from the events, which are few). A catch-up takes the
roll-up's row lock first, so two pages shown at once never count an event twice.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from newsletter.store import DB, transaction

RANK = {"human": 0, "unknown": 1, "machine": 2}
VERDICT_OF = {0: "human", 1: "unknown", 2: "machine"}
NONE = 3  # no open (or click) at all
#: Event types that set a recipient's fact.
FACT_OF_TYPE = {"delivered": "delivered", "bounce": "bounced", "spamreport": "complained",
                "unsubscribe": "unsubscribed", "group_unsubscribe": "unsubscribed"}
FLAGS = ("delivered", "bounced", "complained", "unsubscribed")
_CHUNK = 1000


@dataclass
class Facts:
    """One recipient's facts in one send."""

    domain: str
    delivered: int = 0
    bounced: int = 0
    complained: int = 0
    unsubscribed: int = 0
    open_rank: int = NONE
    click_rank: int = NONE

    def counted(self) -> Counter[str]:
        """The ``send_domain_counts`` entries this recipient adds to (each 1)."""
        found: Counter[str] = Counter(flag for flag in FLAGS if getattr(self, flag))
        if self.open_rank != NONE:
            found[f"open:{VERDICT_OF[self.open_rank]}"] += 1
        if self.click_rank != NONE:
            found[f"click:{VERDICT_OF[self.click_rank]}"] += 1
        return found

    def add(self, kind: str, verdict: str) -> None:
        """Fold one event in."""
        flag = FACT_OF_TYPE.get(kind)
        if flag:
            setattr(self, flag, 1)
        elif kind in ("open", "click"):
            rank = RANK.get(verdict, 1)
            self.open_rank = min(self.open_rank, rank)  # a click is an open too
            if kind == "click":
                self.click_rank = min(self.click_rank, rank)


def needs_rebuild(conn: DB, send_id: int) -> bool:
    """True when catching the send up means a rebuild (more than ``REBUILD_OVER`` events not folded in)."""
    row = conn.execute("SELECT last_event_id FROM send_rollups WHERE send_id = ?", (send_id,)).fetchone()
    mark = int(row[0]) if row else 0
    # The first time by the send's index; afterwards by id from the mark (see catch_up).
    sql = ("SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE send_id = ? AND id > ? LIMIT ?) AS waiting" if mark == 0
           else "SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE +send_id = ? AND id > ? LIMIT ?) AS waiting")
    return int(conn.execute(sql, (send_id, mark, REBUILD_OVER + 1)).fetchone()[0]) > REBUILD_OVER


def _hour_verdict(verdict: str | None) -> str:
    return verdict if verdict in ("human", "machine") else "unknown"


def domain_of(email: str) -> str:
    """The lower-cased domain of an address (after its last ``@``), as ``dialect.email_domain`` writes it."""
    return email.rpartition("@")[2].lower()


def _lock(conn: DB, send_id: int) -> int:
    conn.execute("INSERT INTO send_rollups (send_id, last_event_id) VALUES (?, 0) ON CONFLICT DO NOTHING", (send_id,))
    return int(conn.execute(f"SELECT last_event_id FROM send_rollups WHERE send_id = ?{conn.dialect.lock_rows()}",
                            (send_id,)).fetchone()[0])


def forget_recipient(conn: DB, subscriber_id: int) -> int:
    """Drop the roll-ups of every send ``subscriber_id`` was in (an erasure): their facts tie the person
    to a receiving domain, and the per-domain counters count them under it. The next ``catch_up``
    folds the send's events in afresh, with the address the subscriber row carries now. Returns how many
    sends' roll-ups went (call inside the erasure's transaction)."""
    sends = sorted({int(r[0]) for r in conn.execute(
        "SELECT send_id FROM send_recipient_facts WHERE subscriber_id = ?"
        " UNION SELECT send_id FROM deliveries WHERE subscriber_id = ?", (subscriber_id, subscriber_id))})
    for send_id in sends:
        # send_domains: the dashboard's recipients by domain of a finished send (store/dashboard.py).
        for table in ("send_recipient_facts", "send_domain_counts", "send_hour_counts", "send_rollup_dirty",
                      "send_domains"):
            conn.execute(f"DELETE FROM {table} WHERE send_id = ?", (send_id,))
        conn.execute("UPDATE send_rollups SET last_event_id = 0 WHERE send_id = ?", (send_id,))
    return len(sends)


#: More new events than this are folded in by rebuilding the send's roll-ups in SQL, not one by one.
REBUILD_OVER = 20_000


def catch_up(conn: DB, send_id: int, *, rebuild_over: int = REBUILD_OVER) -> int:
    """Fold the send's new events (and its re-judged recipients) into the roll-ups; returns events folded.

    More than ``rebuild_over`` new events (a first look at a large send, an import) rebuild the
    roll-ups in SQL instead (``rebuild``).
    """
    with transaction(conn):
        mark = _lock(conn, send_id)
        # "+send_id": read the events after the mark by id, not every event of the send by the send's index.
        new = conn.execute("SELECT id, type, subscriber_id, verdict, occurred_at FROM events"
                           " WHERE id > ? AND +send_id = ? ORDER BY id LIMIT ?",
                           (mark, send_id, rebuild_over + 1)).fetchall()
        if len(new) > rebuild_over:
            return rebuild(conn, send_id)
        dirty = sorted(int(r[0]) for r in conn.execute(
            "SELECT subscriber_id FROM send_rollup_dirty WHERE send_id = ?", (send_id,)))
        if not new and not dirty:
            return 0
        hours: Counter[tuple[str, str, str]] = Counter()
        by_person: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for _, kind, subscriber_id, verdict, at in new:
            if kind in ("open", "click"):
                hours[(at[:13], kind, _hour_verdict(verdict))] += 1
            if subscriber_id is not None and (kind in FACT_OF_TYPE or kind in ("open", "click")):
                by_person[int(subscriber_id)].append((kind, verdict))
        for subscriber_id, kind, verdict in _all_events(conn, send_id, dirty):
            by_person.setdefault(subscriber_id, [])
            by_person[subscriber_id].append((kind, verdict))
        old = _facts(conn, send_id, sorted(by_person))
        counters: Counter[tuple[str, str]] = Counter()
        changed: list[tuple[int, Facts]] = []
        dirty_set = set(dirty)
        for subscriber_id, events in by_person.items():
            before = old.get(subscriber_id)
            if before is None:
                continue  # no such subscriber any more
            after = Facts(before.domain) if subscriber_id in dirty_set else Facts(**vars(before))
            for kind, verdict in events:
                after.add(kind, verdict)
            if after != before:
                for what, n in after.counted().items():
                    counters[(after.domain, what)] += n
                for what, n in before.counted().items():
                    counters[(before.domain, what)] -= n
                changed.append((subscriber_id, after))
        _write(conn, send_id, changed, counters, hours)
        if dirty:
            conn.execute("DELETE FROM send_rollup_dirty WHERE send_id = ?", (send_id,))
        if new:
            conn.execute("UPDATE send_rollups SET last_event_id = ? WHERE send_id = ?", (int(new[-1][0]), send_id))
        return len(new)


_RANK_SQL = "CASE verdict WHEN 'human' THEN 0 WHEN 'machine' THEN 2 ELSE 1 END"


def rebuild(conn: DB, send_id: int) -> int:
    """Work the send's roll-ups out afresh from all its events, in SQL (inside the caller's transaction
    holding the roll-up's lock); returns the events folded in."""
    top = conn.execute("SELECT MAX(id), COUNT(*) FROM events WHERE send_id = ?", (send_id,)).fetchone()
    if top[0] is None:
        return 0
    last, count = int(top[0]), int(top[1])
    for table in ("send_recipient_facts", "send_domain_counts", "send_hour_counts", "send_rollup_dirty"):
        conn.execute(f"DELETE FROM {table} WHERE send_id = ?", (send_id,))
    flags = ", ".join(
        f"MAX(CASE WHEN type IN ({', '.join(repr(t) for t, f in FACT_OF_TYPE.items() if f == flag)}) THEN 1 ELSE 0 END)"
        f" AS {flag}" for flag in FLAGS)
    conn.execute(
        "INSERT INTO send_recipient_facts (send_id, subscriber_id, domain, delivered, bounced, complained,"
        " unsubscribed, open_rank, click_rank)"
        f" SELECT ?, f.subscriber_id, {conn.dialect.email_domain('s.email')}, f.delivered, f.bounced, f.complained,"
        " f.unsubscribed, f.open_rank, f.click_rank FROM"
        f" (SELECT subscriber_id, {flags},"
        f"  MIN(CASE WHEN type IN ('open', 'click') THEN {_RANK_SQL} ELSE 3 END) AS open_rank,"
        f"  MIN(CASE WHEN type = 'click' THEN {_RANK_SQL} ELSE 3 END) AS click_rank"
        "  FROM events WHERE send_id = ? AND id <= ? AND subscriber_id IS NOT NULL"
        f"  AND type IN ({', '.join(repr(t) for t in (*FACT_OF_TYPE, 'open', 'click'))})"
        "  GROUP BY subscriber_id) AS f JOIN subscribers s ON s.id = f.subscriber_id",
        (send_id, send_id, last))
    parts = [f"SELECT domain, '{flag}' AS what, SUM({flag}) AS n FROM send_recipient_facts WHERE send_id = ?"
             f" GROUP BY domain HAVING SUM({flag}) > 0" for flag in FLAGS]
    for kind, column in (("open", "open_rank"), ("click", "click_rank")):
        parts.append(f"SELECT domain, CASE {column} WHEN 0 THEN '{kind}:human' WHEN 1 THEN '{kind}:unknown'"
                     f" ELSE '{kind}:machine' END AS what, COUNT(*) AS n FROM send_recipient_facts"
                     f" WHERE send_id = ? AND {column} < 3 GROUP BY domain, {column}")
    conn.execute(f"INSERT INTO send_domain_counts (send_id, domain, what, n) SELECT ?, domain, what, n FROM"
                 f" ({' UNION ALL '.join(parts)}) AS counted", (send_id, *[send_id] * len(parts)))
    conn.execute(
        "INSERT INTO send_hour_counts (send_id, hour, type, verdict, n) SELECT ?, hour, type, verdict, COUNT(*) FROM"
        " (SELECT substr(occurred_at, 1, 13) AS hour, type,"
        "  CASE WHEN verdict IN ('human', 'machine') THEN verdict ELSE 'unknown' END AS verdict FROM events"
        "  WHERE send_id = ? AND id <= ? AND type IN ('open', 'click')) AS hits GROUP BY hour, type, verdict",
        (send_id, send_id, last))
    conn.execute("UPDATE send_rollups SET last_event_id = ? WHERE send_id = ?", (last, send_id))
    # The planner must know the facts grew (PostgreSQL), or it reads a send's facts whole to find a few.
    conn.dialect.refresh_statistics(conn, ["send_recipient_facts", "send_domain_counts", "send_hour_counts"])
    return count


def _all_events(conn: DB, send_id: int, people: Sequence[int]) -> Iterable[tuple[int, str, str]]:
    dialect = conn.dialect
    for start in range(0, len(people), _CHUNK):
        yield from ((int(r[0]), r[1], r[2]) for r in conn.execute(
            f"SELECT subscriber_id, type, verdict FROM events WHERE send_id = ? AND {dialect.id_in('subscriber_id')}",
            (send_id, dialect.id_list(people[start : start + _CHUNK]))))


def _facts(conn: DB, send_id: int, people: Sequence[int]) -> dict[int, Facts]:
    """The stored facts of ``people``, or empty ones with their domain for those not seen before."""
    dialect = conn.dialect
    found: dict[int, Facts] = {}
    for start in range(0, len(people), _CHUNK):
        ids = dialect.id_list(people[start : start + _CHUNK])
        for r in conn.execute(
                "SELECT subscriber_id, domain, delivered, bounced, complained, unsubscribed, open_rank, click_rank"
                f" FROM send_recipient_facts WHERE send_id = ? AND {dialect.id_in('subscriber_id')}", (send_id, ids)):
            found[int(r[0])] = Facts(r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5]), int(r[6]), int(r[7]))
        missing = [p for p in people[start : start + _CHUNK] if p not in found]
        if missing:
            for subscriber_id, email in conn.execute(
                    f"SELECT id, email FROM subscribers WHERE {dialect.id_in('id')}", (dialect.id_list(missing),)):
                found[int(subscriber_id)] = Facts(domain_of(email))
    return found


def _write(conn: DB, send_id: int, changed: list[tuple[int, Facts]], counters: Counter[tuple[str, str]],
           hours: Counter[tuple[str, str, str]]) -> None:
    if changed:
        conn.executemany(
            "INSERT INTO send_recipient_facts (send_id, subscriber_id, domain, delivered, bounced, complained,"
            " unsubscribed, open_rank, click_rank) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (send_id, subscriber_id) DO UPDATE SET delivered = excluded.delivered,"
            " bounced = excluded.bounced, complained = excluded.complained, unsubscribed = excluded.unsubscribed,"
            " open_rank = excluded.open_rank, click_rank = excluded.click_rank",
            [(send_id, s, f.domain, f.delivered, f.bounced, f.complained, f.unsubscribed, f.open_rank, f.click_rank)
             for s, f in changed])
    deltas = [(send_id, domain, what, n) for (domain, what), n in sorted(counters.items()) if n]
    if deltas:
        conn.executemany(
            "INSERT INTO send_domain_counts (send_id, domain, what, n) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (send_id, domain, what) DO UPDATE SET n = send_domain_counts.n + excluded.n", deltas)
    add_hours(conn, send_id, hours)


def add_hours(conn: DB, send_id: int, hours: Counter[tuple[str, str, str]]) -> None:
    """Add ``{(hour, type, verdict): events}`` (negative to take away) to the send's hour counts."""
    rows = [(send_id, hour, kind, verdict, n) for (hour, kind, verdict), n in sorted(hours.items()) if n]
    if rows:
        conn.executemany(
            "INSERT INTO send_hour_counts (send_id, hour, type, verdict, n) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (send_id, hour, type, verdict) DO UPDATE SET n = send_hour_counts.n + excluded.n", rows)


def rejudged(conn: DB, events: Sequence[tuple[int, int, int | None, str, str, str]], verdict: str) -> None:
    """Keep the roll-ups right when stored events ``(id, send_id, subscriber_id, type, occurred_at, old
    verdict)`` are judged ``verdict`` afresh (inside the caller's transaction)."""
    marks: dict[int, int] = {}
    hours: dict[int, Counter[tuple[str, str, str]]] = defaultdict(Counter)
    dirty: set[tuple[int, int]] = set()
    for event_id, send_id, subscriber_id, kind, at, old in events:
        if send_id not in marks:
            row = conn.execute(f"SELECT last_event_id FROM send_rollups WHERE send_id = ?{conn.dialect.lock_rows()}",
                               (send_id,)).fetchone()
            marks[send_id] = int(row[0]) if row else 0
        if event_id > marks[send_id] or old == verdict:
            continue  # not folded in yet: the next catch-up sees the new verdict
        hours[send_id][(at[:13], kind, _hour_verdict(old))] -= 1
        hours[send_id][(at[:13], kind, verdict)] += 1
        if subscriber_id is not None:
            dirty.add((send_id, subscriber_id))
    for send_id, counts in hours.items():
        add_hours(conn, send_id, counts)
    if dirty:
        conn.executemany("INSERT INTO send_rollup_dirty (send_id, subscriber_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                         sorted(dirty))


def domain_counts(conn: DB, send_id: int) -> dict[tuple[str, str], int]:
    """``{(domain, what): recipients}`` of a send (see the module), after ``catch_up``."""
    return {(r[0], r[1]): int(r[2]) for r in conn.execute(
        "SELECT domain, what, n FROM send_domain_counts WHERE send_id = ? AND n != 0", (send_id,))}


def hour_counts(conn: DB, send_id: int, since: str, until: str) -> list[tuple[str, str, str, int]]:
    """``(hour, type, verdict, events)`` of a send's opens and clicks in [since, until), after ``catch_up``."""
    return [(r[0], r[1], r[2], int(r[3])) for r in conn.execute(
        "SELECT hour, type, verdict, n FROM send_hour_counts WHERE send_id = ? AND hour >= ? AND hour < ? AND n != 0",
        (send_id, since, until))]
