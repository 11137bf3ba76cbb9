"""SQL for welcome emails and sequences: the sequences of each list, their versions, who is enrolled,
and the worker's due query.

A welcome email is a sequence of one step named 'welcome'. Each step is a
normal send: a ``sends`` row keyed (step issue slug, list, ``audience_key``)
with one ledger row per member who reached it, so the ledger's rules make
every (subscriber, step) exactly once. ``queue_due`` writes those rows, for
everyone whose step is due, in one statement per step: a member whose
attributes do not match the step's conditions gets the row as 'suppressed'
(the sequence moves past them), the others as 'queued' for the engine.

Enrolments are written by the code that makes someone a member, in its
transaction (``enrol``, ``enrol_joined``). Times are the store's UTC text
('2026-12-02T08:00:00Z'), which compares as it sorts in both databases.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from newsletter.store import DB, transaction
from newsletter.store.segments import SEQUENCE_PREFIX, Condition, where_sql
from newsletter.store.subscribers import ON_LIST, utcnow

#: A sequence step's name in the ledger: ``sends.audience`` starts with it (the archive leaves such sends out).
AUDIENCE_PREFIX = SEQUENCE_PREFIX
#: Ledger states after which the next step may follow (the row is decided).
DECIDED = ("accepted", "failed", "in_doubt", "skipped", "suppressed")
#: The error of a row the step's conditions left out.
NOT_MATCHED = "not sent: the member does not match the step's conditions"


def audience_key(name: str, round_: int = 1) -> str:
    """How the ledger names the audience of a step of sequence ``name`` ('sequence:welcome', 'sequence:x#2')."""
    return f"{AUDIENCE_PREFIX}{name}" + (f"#{round_}" if round_ > 1 else "")


@dataclass(frozen=True)
class Attachment:
    """What ``attach`` records: a sequence of a list, where its file is, and its steps now."""

    list_id: int
    name: str
    kind: str  # 'welcome' (path is the issue) or 'file' (path is the TOML file)
    path: str
    root: str  # relative issue paths in the file start here
    steps: str  # JSON, canonical: the version's steps
    digest: str


def attach(conn: DB, a: Attachment, *, now: str | None = None) -> tuple[int, int, str]:
    """Attach (or re-attach, or update) sequence ``a.name`` of list ``a.list_id``; return ``(id, version,
    'attached'|'updated')``. A new version is snapshotted when the steps differ from the current one."""
    now = now or utcnow()
    with transaction(conn):
        row = conn.execute("SELECT id, detached_at FROM sequences WHERE list_id = ? AND name = ?",
                           (a.list_id, a.name)).fetchone()
        if row is None:
            sequence_id = conn.execute(
                "INSERT INTO sequences (list_id, name, kind, path, root, version, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 0, ?, ?) RETURNING id",
                (a.list_id, a.name, a.kind, a.path, a.root, now, now),
            ).fetchone()[0]
            action = "attached"
        else:
            sequence_id = row[0]
            action = "attached" if row[1] is not None else "updated"
            conn.execute("UPDATE sequences SET kind = ?, path = ?, root = ?, detached_at = NULL, updated_at = ?"
                         " WHERE id = ?", (a.kind, a.path, a.root, now, sequence_id))
        version = _snapshot(conn, sequence_id, a.steps, a.digest, now)
    return sequence_id, version, action


def snapshot(conn: DB, sequence_id: int, steps: str, digest: str, *, now: str | None = None) -> int:
    """The current version of the sequence, made new first if ``digest`` differs from it."""
    with transaction(conn):
        return _snapshot(conn, sequence_id, steps, digest, now or utcnow())


def _snapshot(conn: DB, sequence_id: int, steps: str, digest: str, now: str) -> int:
    row = conn.execute(
        "SELECT q.version, v.digest FROM sequences q LEFT JOIN sequence_versions v"
        " ON v.sequence_id = q.id AND v.version = q.version WHERE q.id = ?" + conn.dialect.lock_rows("q"),
        (sequence_id,),
    ).fetchone()
    if row[1] == digest:
        return int(row[0])
    version = int(row[0]) + 1
    conn.execute("INSERT INTO sequence_versions (sequence_id, version, steps, digest, created_at)"
                 " VALUES (?, ?, ?, ?, ?)", (sequence_id, version, steps, digest, now))
    conn.execute("UPDATE sequences SET version = ?, updated_at = ? WHERE id = ?", (version, now, sequence_id))
    return version


def detach(conn: DB, list_id: int, name: str, *, now: str | None = None) -> bool:
    """Take sequence ``name`` off the list: nobody enrols any more and the worker sends no step of it.
    Its enrolments and ledger rows stay (attached again, it goes on where it was). False if not attached."""
    with transaction(conn):
        return conn.execute(
            "UPDATE sequences SET detached_at = ?, updated_at = ? WHERE list_id = ? AND name = ? AND detached_at IS NULL",
            (now or utcnow(), now or utcnow(), list_id, name),
        ).rowcount == 1


def set_paused(conn: DB, sequence_id: int, *, paused: bool, by: str = "", now: str | None = None) -> bool:
    """Pause (``paused``) or resume the sequence; False if it already was so. Call it inside the caller's
    transaction (``release.sequence_pause`` writes the audit entry in the same one). While paused the worker
    writes no row of its steps and runs none of its step sends (``is_paused``); enrolment goes on."""
    now = now or utcnow()
    if paused:
        return conn.execute("UPDATE sequences SET paused_at = ?, paused_by = ?, updated_at = ?"
                            " WHERE id = ? AND paused_at IS NULL", (now, by, now, sequence_id)).rowcount == 1
    return conn.execute("UPDATE sequences SET paused_at = NULL, paused_by = '', updated_at = ?"
                        " WHERE id = ? AND paused_at IS NOT NULL", (now, sequence_id)).rowcount == 1


def is_paused(conn: DB, sequence_id: int) -> bool:
    """Whether the sequence is paused (a step's run asks between batches)."""
    row = conn.execute("SELECT paused_at FROM sequences WHERE id = ?", (sequence_id,)).fetchone()
    return bool(row and row[0])


def of_send(conn: DB, send_id: int) -> dict[str, Any] | None:
    """The sequence whose step ``send_id`` is (name, list), or ``None`` for any other send."""
    row = conn.execute("SELECT s.audience, l.name FROM sends s JOIN lists l ON l.id = s.list_id WHERE s.id = ?",
                       (send_id,)).fetchone()
    if row is None or not str(row[0]).startswith(AUDIENCE_PREFIX):
        return None
    return {"name": str(row[0])[len(AUDIENCE_PREFIX):].split("#", 1)[0], "list": row[1]}


_SELECT = ("SELECT q.id, q.list_id, l.name AS list, q.name, q.kind, q.path, q.root, q.version, q.rounds,"
           " q.detached_at, q.paused_at, q.paused_by, q.created_at, q.updated_at FROM sequences q JOIN lists l ON l.id = q.list_id")


def find(conn: DB, name: str, list_name: str | None = None) -> list[dict[str, Any]]:
    """The attached sequences called ``name`` (of list ``list_name`` only, if given)."""
    rows = conn.execute(
        f"{_SELECT} WHERE q.name = ? AND q.detached_at IS NULL" + (" AND l.name = ?" if list_name else "")
        + " ORDER BY l.name", (name, list_name) if list_name else (name,)
    ).fetchall()
    return [dict(r) for r in rows]


def attached(conn: DB) -> list[dict[str, Any]]:
    """Every attached sequence, by list and name, with how many are enrolled."""
    enrolled = ", (SELECT COUNT(*) FROM enrolments e WHERE e.sequence_id = q.id AND e.ended_at IS NULL) AS enrolled FROM"
    rows = conn.execute(
        _SELECT.replace(" FROM", enrolled, 1) + " WHERE q.detached_at IS NULL ORDER BY l.name, q.name"
    ).fetchall()
    return [dict(r) for r in rows]


def steps_of(conn: DB, sequence_id: int, version: int) -> list[dict[str, Any]]:
    """The steps of one version of a sequence, as snapshotted."""
    row = conn.execute("SELECT steps FROM sequence_versions WHERE sequence_id = ? AND version = ?",
                       (sequence_id, version)).fetchone()
    return json.loads(row[0]) if row else []


def versions_of(conn: DB, sequence_id: int) -> list[int]:
    """Every version of a sequence, oldest first."""
    return [int(r[0]) for r in conn.execute(
        "SELECT version FROM sequence_versions WHERE sequence_id = ? ORDER BY version", (sequence_id,))]


# --- enrolment (called in the transaction that makes someone a member) --------------------------------

_ENROL = (
    "INSERT INTO enrolments (sequence_id, subscriber_id, round, version, step, entered_at)"
    " SELECT q.id, {subscriber}, 1, q.version, 0, ? FROM {source}"
    " WHERE q.list_id = ? AND q.detached_at IS NULL AND q.version > 0 {where} ON CONFLICT DO NOTHING"
)


def enrol(conn: DB, list_id: int, subscriber_id: int, *, now: str | None = None) -> int:
    """Enrol a member who joined ``list_id`` just now in each of the list's sequences (call inside the join's
    transaction); return how many enrolments were written. Someone enrolled before is not enrolled again."""
    return conn.execute(
        _ENROL.format(subscriber="?", source="sequences q", where=""),
        (subscriber_id, now or utcnow(), list_id),
    ).rowcount


def enrol_joined(conn: DB, list_id: int, since: str, *, subscriber_id: int | None = None,
                 now: str | None = None) -> int:
    """Enrol every active member of ``list_id`` (or only ``subscriber_id``) who joined or was reactivated at
    ``since`` or later (an import, ``subscribers add``): one statement for the whole import, inside its
    transaction; return how many enrolments were written."""
    one = " AND m.subscriber_id = ?" if subscriber_id is not None else ""
    return conn.execute(
        _ENROL.format(subscriber="m.subscriber_id",
                      source="memberships m JOIN subscribers s ON s.id = m.subscriber_id"
                             " JOIN sequences q ON q.list_id = m.list_id",
                      where=f"AND {ON_LIST} AND m.updated_at >= ?{one}"),
        (now or since, list_id, since, *(() if subscriber_id is None else (subscriber_id,))),
    ).rowcount


def restart(conn: DB, sequence_id: int, subscriber_ids: Sequence[int], *, now: str | None = None) -> int:
    """Start a new round of the sequence for these subscribers (their current round ends); return how many.
    The new round takes the sequence's current version and starts from its first step."""
    now = now or utcnow()
    started = 0
    with transaction(conn):
        version = conn.execute("SELECT version FROM sequences WHERE id = ?" + conn.dialect.lock_rows(),
                               (sequence_id,)).fetchone()[0]
        for sid in subscriber_ids:
            current = conn.execute("SELECT MAX(round) FROM enrolments WHERE sequence_id = ? AND subscriber_id = ?",
                                   (sequence_id, sid)).fetchone()[0]
            conn.execute("UPDATE enrolments SET ended_at = ? WHERE sequence_id = ? AND subscriber_id = ?"
                         " AND ended_at IS NULL", (now, sequence_id, sid))
            round_ = (current or 0) + 1
            conn.execute("INSERT INTO enrolments (sequence_id, subscriber_id, round, version, step, entered_at)"
                         " VALUES (?, ?, ?, ?, 0, ?)", (sequence_id, sid, round_, version, now))
            conn.execute("UPDATE sequences SET rounds = ? WHERE id = ? AND rounds < ?", (round_, sequence_id, round_))
            started += 1
    return started


# --- the worker's due query ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DueStep:
    """One step of one (version, round) of a sequence, as the due query needs it.

    ``send_id`` is the step's send (0 while it has none); ``previous_send_id`` the previous step's (0 for
    the first step). A member is due when ``entered_at <= joined_by`` (if set) and their row of the previous
    step was decided at ``previous_by`` or earlier (if set; any time if ``None``).
    """

    sequence_id: int
    list_id: int
    version: int
    round: int
    index: int
    send_id: int
    previous_send_id: int
    joined_by: str | None
    previous_by: str | None
    conditions: tuple[Condition, ...] = ()


def _due(conn: DB, step: DueStep) -> tuple[str, list[Any]]:
    """``FROM ... WHERE ...`` of the members due for ``step`` (enrolments ``e``, subscribers ``s``) who have
    no ledger row of it yet, on the list now, and the parameters."""
    sql = ("FROM enrolments e JOIN subscribers s ON s.id = e.subscriber_id"
           " JOIN memberships m ON m.subscriber_id = e.subscriber_id AND m.list_id = ?"
           f" WHERE e.sequence_id = ? AND e.version = ? AND e.round = ? AND e.step = ? AND e.ended_at IS NULL"
           f" AND {ON_LIST}")
    params: list[Any] = [step.list_id, step.sequence_id, step.version, step.round, step.index]
    if step.joined_by is not None:
        sql += " AND e.entered_at <= ?"
        params.append(step.joined_by)
    if step.index > 0:
        marks = ", ".join("?" * len(DECIDED))
        sql += (" AND EXISTS (SELECT 1 FROM deliveries p WHERE p.send_id = ? AND p.subscriber_id = e.subscriber_id"
                f" AND p.state IN ({marks})" + (" AND p.updated_at <= ?" if step.previous_by is not None else "") + ")")
        params += [step.previous_send_id, *DECIDED] + ([step.previous_by] if step.previous_by is not None else [])
    sql += " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.send_id = ? AND d.subscriber_id = e.subscriber_id)"
    params.append(step.send_id)
    return sql, params


def count_due(conn: DB, step: DueStep) -> int:
    """How many members are due for ``step`` and have no ledger row of it yet."""
    sql, params = _due(conn, step)
    return int(conn.execute(f"SELECT COUNT(*) {sql}", params).fetchone()[0])


def queue_due(conn: DB, step: DueStep, *, now: str | None = None) -> int:
    """Write a ledger row of ``step.send_id`` for every member due for it, in one transaction: 'queued', or
    'suppressed' with ``NOT_MATCHED`` when their attributes do not match the step's conditions; then move
    everyone with a row of this step on to the next. Return how many rows were written.

    ``ON CONFLICT DO NOTHING``: two workers running the same step write each row once.
    """
    now = now or utcnow()
    sql, params = _due(conn, step)
    match, match_params = where_sql(step.conditions, dialect=conn.dialect)
    with transaction(conn):
        written = conn.execute(
            "INSERT INTO deliveries (send_id, subscriber_id, state, error, updated_at)"
            f" SELECT ?, e.subscriber_id, CASE WHEN {match} THEN 'queued' ELSE 'suppressed' END,"
            f" CASE WHEN {match} THEN '' ELSE ? END, ? {sql} ON CONFLICT DO NOTHING",
            (step.send_id, *match_params, *match_params, NOT_MATCHED, now, *params),
        ).rowcount
        conn.execute(
            "UPDATE enrolments SET step = ? WHERE sequence_id = ? AND version = ? AND round = ? AND step = ?"
            " AND EXISTS (SELECT 1 FROM deliveries d WHERE d.send_id = ? AND d.subscriber_id = enrolments.subscriber_id)",
            (step.index + 1, step.sequence_id, step.version, step.round, step.index, step.send_id),
        )
    return int(written)


def create_step_send(conn: DB, slug: str, list_id: int, audience: str, version: Any) -> int:
    """The send of a step (issue ``slug`` to ``audience`` of list ``list_id``), created without ledger rows
    if it does not exist (``version``: a ``store.sends.SendVersion``); workers racing create it once."""
    now = utcnow()
    with transaction(conn):
        row = conn.execute(
            "INSERT INTO sends (slug, list_id, audience, html_sha256, backend, subject, links, created_at, started_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (slug, list_id, audience) DO NOTHING RETURNING id",
            (slug, list_id, audience, version.html_sha256, version.backend, version.subject,
             json.dumps(list(version.links)), now, now),
        ).fetchone()
        if row is not None:
            return int(row[0])
        return int(conn.execute("SELECT id FROM sends WHERE slug = ? AND list_id = ? AND audience = ?",
                                (slug, list_id, audience)).fetchone()[0])


def step_send(conn: DB, slug: str, list_id: int, audience: str) -> int:
    """The id of a step's send, or 0 if it has none yet."""
    row = conn.execute("SELECT id FROM sends WHERE slug = ? AND list_id = ? AND audience = ?",
                       (slug, list_id, audience)).fetchone()
    return int(row[0]) if row else 0


def has_undecided(conn: DB, send_id: int) -> bool:
    """Whether a send has rows not decided yet: queued, or claimed or sending (held by a run, which may be
    dead: a run joining the send settles those, as in doubt or back to queued)."""
    return conn.execute("SELECT 1 FROM deliveries WHERE send_id = ? AND state IN ('queued', 'claimed', 'sending')"
                        " LIMIT 1", (send_id,)).fetchone() is not None


def next_entry(conn: DB, position: tuple[int, int, int, int], after: str) -> str | None:
    """The earliest ``entered_at`` later than ``after`` of members still at ``position`` (sequence, version,
    round, step): when the next of them is due after joining."""
    row = conn.execute(
        "SELECT MIN(entered_at) FROM enrolments WHERE sequence_id = ? AND version = ? AND round = ? AND step = ?"
        " AND ended_at IS NULL AND entered_at > ?", (*position, after)).fetchone()
    return row[0] if row else None


def next_decided(conn: DB, previous_send_id: int, position: tuple[int, int, int, int], after: str) -> str | None:
    """The earliest time later than ``after`` at which a row of ``previous_send_id`` was decided, among members
    still at ``position`` (sequence, version, round, step): when the next of them is due after a delay."""
    marks = ", ".join("?" * len(DECIDED))
    row = conn.execute(
        "SELECT MIN(p.updated_at) FROM enrolments e JOIN deliveries p ON p.subscriber_id = e.subscriber_id"
        f" WHERE p.send_id = ? AND p.state IN ({marks}) AND p.updated_at > ? AND e.sequence_id = ? AND e.version = ?"
        " AND e.round = ? AND e.step = ? AND e.ended_at IS NULL",
        (previous_send_id, *DECIDED, after, *position)).fetchone()
    return row[0] if row else None


# --- reports -------------------------------------------------------------------------------------------


def step_states(conn: DB, list_id: int, slug: str, name: str) -> dict[str, int]:
    """Ledger rows by state of one step (issue ``slug``) of sequence ``name`` over every round."""
    found: dict[str, int] = {}
    for state, n in conn.execute(
        "SELECT d.state, COUNT(*) FROM deliveries d JOIN sends s ON s.id = d.send_id"
        " WHERE s.list_id = ? AND s.slug = ? AND (s.audience = ? OR s.audience LIKE ?) GROUP BY d.state",
        (list_id, slug, audience_key(name), audience_key(name) + "#%"),
    ):
        found[state] = found.get(state, 0) + int(n)
    return found


def waiting(conn: DB, sequence_id: int, list_id: int) -> list[tuple[int, int, int, int]]:
    """``(version, round, step, members)`` of enrolments still going (on the list now, not ended)."""
    rows = conn.execute(
        "SELECT e.version, e.round, e.step, COUNT(*) FROM enrolments e JOIN subscribers s ON s.id = e.subscriber_id"
        " JOIN memberships m ON m.subscriber_id = e.subscriber_id AND m.list_id = ?"
        f" WHERE e.sequence_id = ? AND e.ended_at IS NULL AND {ON_LIST} GROUP BY e.version, e.round, e.step",
        (list_id, sequence_id),
    ).fetchall()
    return [(int(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]


def iter_members(conn: DB, sequence_id: int, list_id: int, *, page: int = 1000) -> Iterator[dict[str, Any]]:
    """Every enrolment of the sequence (each round), in subscriber order, read a page at a time: email,
    round, version, step (the next one), entered_at, ended_at and whether they are on the list now."""
    after: tuple[int, int] = (0, 0)
    while True:
        rows = conn.execute(
            "SELECT e.subscriber_id, e.round, s.email, e.version, e.step, e.entered_at, e.ended_at,"
            f" CASE WHEN m.status IS NOT NULL AND {ON_LIST} THEN 1 ELSE 0 END AS on_list"
            " FROM enrolments e JOIN subscribers s ON s.id = e.subscriber_id"
            " LEFT JOIN memberships m ON m.subscriber_id = e.subscriber_id AND m.list_id = ?"
            " WHERE e.sequence_id = ? AND (e.subscriber_id > ? OR (e.subscriber_id = ? AND e.round > ?))"
            " ORDER BY e.subscriber_id, e.round LIMIT ?",
            (list_id, sequence_id, after[0], after[0], after[1], page),
        ).fetchall()
        if not rows:
            return
        for r in rows:
            yield {"email": r["email"], "round": r["round"], "version": r["version"], "step": r["step"],
                   "entered_at": r["entered_at"], "ended_at": r["ended_at"], "on_list": bool(r["on_list"])}
        after = (rows[-1]["subscriber_id"], rows[-1]["round"])
