"""SQL for sends and their delivery ledger.

The ledger (``deliveries``) is the truth about a send, and the only one:

- when a send starts, its audience is fixed: one 'queued' row per active
  member (in the same transaction that creates the send);
- a run *claims* rows before any I/O ('claimed', or straight to 'sending'
  for a backend that hands a whole batch over in one request), marks each
  row 'sending' before its message is handed over, and records the answer
  (accepted, failed, in_doubt) after; a claim that provably never went out is
  released back to its ``prior`` state;
- rows a dead run left 'sending' become 'in_doubt' and are never sent again
  without an explicit decision; rows it left 'claimed' go back where they were.

Counts and statuses are derived from these rows (``counts``,
``list_sends``), never kept beside them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from newsletter.store import DB, transaction
from newsletter.store.runs import has_ended
from newsletter.store.subscribers import ON_LIST, utcnow

STATES = ("queued", "claimed", "sending", "accepted", "failed", "in_doubt", "skipped", "suppressed")
FINAL = ("accepted", "failed", "in_doubt", "skipped", "suppressed")
#: Provider events that prove a message was handed over (settle an in-doubt row as accepted).
PROOF_OF_HANDOVER = ("processed", "delivered", "deferred", "bounce", "open", "click")

#: A recipient as the engine needs it: (subscriber id, email, name, attempt).
Claimed = tuple[int, str, str, int]

# An audience member is an active subscriber who is still on the list.
_ON_LIST = (
    "s.status = 'active' AND EXISTS (SELECT 1 FROM memberships m"
    " WHERE m.list_id = ? AND m.subscriber_id = s.id AND m.status = 'active')"
)


def find_send(conn: DB, slug: str, list_id: int, audience: str = "") -> dict[str, Any] | None:
    """The send of issue ``slug`` to list ``list_id`` (and segment ``audience``), or ``None``."""
    row = conn.execute(
        "SELECT * FROM sends WHERE slug = ? AND list_id = ? AND audience = ?", (slug, list_id, audience)
    ).fetchone()
    return dict(row) if row else None


def get_send(conn: DB, send_id: int) -> dict[str, Any] | None:
    """The send with this id, or ``None``."""
    row = conn.execute("SELECT * FROM sends WHERE id = ?", (send_id,)).fetchone()
    return dict(row) if row else None


def _members_sql(where: str) -> str:
    # Active members of the list (and of the segment), minus anyone who has
    # already been handed this issue on this list by another send (segments overlap).
    return (
        "SELECT s.id FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id"
        f" WHERE m.list_id = ? AND {ON_LIST}" + (f" AND ({where})" if where else "")
        + " AND NOT EXISTS (SELECT 1 FROM deliveries o JOIN sends os ON os.id = o.send_id"
        "  WHERE o.subscriber_id = s.id AND os.slug = ? AND os.list_id = m.list_id AND os.id != ?"
        "  AND o.state IN ('accepted', 'sending', 'in_doubt', 'skipped'))"
    )


def count_audience(conn: DB, slug: str, list_id: int, where: str = "",
                   params: Sequence[Any] = ()) -> tuple[int, int]:
    """``(members to send, members suppressed)`` of a send not created yet (its plan)."""
    active = conn.execute(
        f"SELECT COUNT(*) FROM ({_members_sql(where)}) AS a", (list_id, *params, slug, 0)
    ).fetchone()[0]
    suppressed = conn.execute(
        "SELECT COUNT(*) FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id"
        " WHERE m.list_id = ? AND m.status = 'active' AND s.status != 'active'", (list_id,)
    ).fetchone()[0]
    return int(active), int(suppressed)


def create_send(
    conn: DB,
    *,
    slug: str,
    list_id: int,
    html_sha256: str,
    backend: str,
    subject: str,
    links: Sequence[str],
    audience: str = "",
    where: str = "",
    params: Sequence[Any] = (),
) -> tuple[int, int, bool]:
    """Create a send and fix its audience in one transaction; return ``(send id, audience size, created)``.

    If another process created the same send a moment earlier (workers
    starting together), nothing is written and its id is returned with
    ``created`` false.
    """
    now = utcnow()
    with transaction(conn):
        row = conn.execute(
            "INSERT INTO sends (slug, list_id, audience, html_sha256, backend, subject, links, created_at, started_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (slug, list_id, audience) DO NOTHING RETURNING id",
            (slug, list_id, audience, html_sha256, backend, subject, json.dumps(list(links)), now, now),
        ).fetchone()
        if row is None:
            existing = find_send(conn, slug, list_id, audience)
            assert existing is not None
            return existing["id"], 0, False
        send_id = row[0]
        size = conn.execute(
            "INSERT INTO deliveries (send_id, subscriber_id, state, updated_at)"
            f" SELECT ?, id, 'queued', ? FROM ({_members_sql(where)}) AS a ORDER BY id",
            (send_id, now, list_id, *params, slug, send_id),
        ).rowcount
    conn.dialect.refresh_statistics(conn, ("deliveries",))  # the claims' plans must know it grew
    return send_id, size, True


def add_new_members(conn: DB, send_id: int, list_id: int, slug: str, where: str = "",
                    params: Sequence[Any] = (), *, dry_run: bool = False) -> int:
    """Members who joined since the send started (no ledger row yet): count them, or queue them."""
    select = (
        f"SELECT id FROM ({_members_sql(where)}) AS a"
        " WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.send_id = ? AND d.subscriber_id = a.id)"
    )
    args = (list_id, *params, slug, send_id, send_id)
    if dry_run:
        return int(conn.execute(f"SELECT COUNT(*) FROM ({select}) AS n", args).fetchone()[0])
    with transaction(conn):
        # ON CONFLICT: workers starting together may both queue them ("WHERE true" tells SQLite's
        # parser that ON starts the upsert, not a join).
        return conn.execute(
            "INSERT INTO deliveries (send_id, subscriber_id, state, updated_at)"
            f" SELECT ?, id, 'queued', ? FROM ({select}) AS n WHERE true ON CONFLICT DO NOTHING",
            (send_id, utcnow(), *args),
        ).rowcount


def update_send_version(
    conn: DB, send_id: int, *, html_sha256: str, subject: str, links: Sequence[str], backend: str
) -> None:
    """Record a changed issue (``--allow-changed``) or backend on an existing send."""
    with transaction(conn):
        conn.execute(
            "UPDATE sends SET html_sha256 = ?, subject = ?, links = ?, backend = ? WHERE id = ?",
            (html_sha256, subject, json.dumps(list(links)), backend, send_id),
        )


def delete_unsent(conn: DB, send_id: int) -> bool:
    """Remove a send nothing of which was ever handed over (a refused login); return whether it did.

    A send another run holds (a worker that joined it) stays.
    """
    with transaction(conn):
        conn.execute("SELECT id FROM sends WHERE id = ?" + conn.dialect.lock_rows(), (send_id,))
        if conn.execute(
            "SELECT 1 FROM deliveries WHERE send_id = ? AND (attempts > 0 OR state NOT IN ('queued', 'suppressed', 'claimed'))"
            " LIMIT 1", (send_id,)
        ).fetchone() or conn.execute(
            "SELECT 1 FROM send_runs WHERE send_id = ? AND ended_at IS NULL LIMIT 1", (send_id,)
        ).fetchone():
            return False
        conn.execute("DELETE FROM send_runs WHERE send_id = ?", (send_id,))
        conn.execute("DELETE FROM deliveries WHERE send_id = ?", (send_id,))
        conn.execute("DELETE FROM sends WHERE id = ?", (send_id,))
        return True


#: Claimed rows that go back to in doubt or failed (not to queued) when their run is gone:
#: the key of their count, by prior state.
CLAIMED_BACK = {"in_doubt": "claimed_in_doubt", "failed": "claimed_failed"}
_CLAIMED_BACK_SUMS = ", ".join(
    f"COUNT(*) FILTER (WHERE d.state = 'claimed' AND d.prior = '{prior}') AS {key}" for prior, key in CLAIMED_BACK.items()
)


def counts(conn: DB, send_id: int) -> dict[str, int]:
    """Ledger rows of a send by state (every state present), plus the ``CLAIMED_BACK`` counts."""
    found = {state: 0 for state in (*STATES, *CLAIMED_BACK.values())}
    for state, prior, n in conn.execute(
        "SELECT state, prior, COUNT(*) FROM deliveries WHERE send_id = ? GROUP BY state, prior", (send_id,)
    ):
        found[state] += n
        if state == "claimed" and prior in CLAIMED_BACK:
            found[CLAIMED_BACK[prior]] += n
    return found


# --- claims --------------------------------------------------------------------


def _claimed_rows(conn: DB, send_id: int, run_id: int, batch: int) -> list[Claimed]:
    rows = conn.execute(
        "SELECT s.id, s.email, s.name, d.attempts FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
        " WHERE d.send_id = ? AND d.run_id = ? AND d.batch = ? AND d.state IN ('claimed', 'sending')"
        " ORDER BY d.subscriber_id",
        (send_id, run_id, batch),
    ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def claim(
    conn: DB,
    send_id: int,
    list_id: int,
    run_id: int,
    *,
    source: str,
    after_id: int,
    limit: int,
    batch: int,
    handed_over: bool,
) -> tuple[list[Claimed], int]:
    """Claim the next ``limit`` rows in state ``source`` (queued, in_doubt or failed) above ``after_id``.

    Returns the claimed recipients (in id order) and the highest id looked
    at. In the same transaction, queued members who are no longer active or
    on the list become 'suppressed', so nobody who left a moment ago is sent
    to; in-doubt and failed rows of such members are left as they are. With
    ``handed_over`` the rows go straight to 'sending' (one request carries the
    whole batch), else to 'claimed' for ``mark_sending`` per message. A run
    that no longer holds the send (taken over) claims nothing.
    """
    if source not in ("queued", "in_doubt", "failed"):
        raise ValueError(f"cannot claim rows in state {source!r}")
    now = utcnow()
    state, bump = ("sending", 1) if handed_over else ("claimed", 0)
    dialect = conn.dialect
    with transaction(conn):
        # The rows read stay locked until COMMIT (SQLite: the write lock; PostgreSQL:
        # row locks, and rows another worker is claiming right now are skipped).
        rows = conn.execute(
            f"SELECT d.subscriber_id, {_ON_LIST.replace('s.id', 'd.subscriber_id')} AS ok, s.email, s.name, d.attempts"
            " FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
            " WHERE d.send_id = ? AND d.state = ? AND d.subscriber_id > ? ORDER BY d.subscriber_id LIMIT ?"
            + dialect.claim_rows("d"),
            (list_id, send_id, source, after_id, limit),
        ).fetchall()
        if not rows:
            return [], after_id
        last = rows[-1][0]
        gone = [r[0] for r in rows if not r[1]]
        if gone and source == "queued":
            conn.execute(
                "UPDATE deliveries SET state = 'suppressed', updated_at = ?"
                f" WHERE send_id = ? AND {dialect.id_in('subscriber_id')}",
                (now, send_id, dialect.id_list(gone)),
            )
        # A run taken over (its lease expired while it stalled) claims nothing more; in-doubt and
        # failed rows of members who left stay as they are.
        taken = [] if has_ended(conn, run_id) else [r for r in rows if r[1]]
        if taken:
            conn.execute(
                "UPDATE deliveries SET prior = state, state = ?, run_id = ?, batch = ?, attempts = attempts + ?,"
                f" updated_at = ? WHERE send_id = ? AND state = ? AND subscriber_id > ? AND subscriber_id <= ?"
                f" AND {dialect.id_in('subscriber_id')}",
                (state, run_id, batch, bump, now, send_id, source, after_id, last, dialect.id_list(r[0] for r in taken)),
            )
    return [(r[0], r[2], r[3], r[4] + bump) for r in taken], last


def claim_ids(conn: DB, send_id: int, run_id: int, ids: Sequence[int], *, batch: int,
              handed_over: bool) -> list[Claimed]:
    """Claim again the given rows that are still 'failed' (the end-of-run retry of temporary refusals)."""
    now = utcnow()
    state, bump = ("sending", 1) if handed_over else ("claimed", 0)
    with transaction(conn):
        if has_ended(conn, run_id):
            return []
        conn.executemany(
            "UPDATE deliveries SET prior = state, state = ?, run_id = ?, batch = ?, attempts = attempts + ?,"
            " updated_at = ? WHERE send_id = ? AND subscriber_id = ? AND state = 'failed'"
            " AND (SELECT status FROM subscribers WHERE id = ?) = 'active'",
            [(state, run_id, batch, bump, now, send_id, sid, sid) for sid in ids],
        )
        return _claimed_rows(conn, send_id, run_id, batch)


def mark_sending(conn: DB, send_id: int, run_id: int, subscriber_id: int) -> bool:
    """Journal that one claimed message is being handed over now; False if the claim is no longer ours."""
    with transaction(conn):
        return conn.execute(
            "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, updated_at = ?"
            " WHERE send_id = ? AND subscriber_id = ? AND run_id = ? AND state = 'claimed'",
            (utcnow(), send_id, subscriber_id, run_id),
        ).rowcount == 1


def unmark_sending(conn: DB, send_id: int, run_id: int, subscriber_id: int) -> bool:
    """Undo ``mark_sending``: the server refused the message, so it is not in flight (back to 'claimed')."""
    with transaction(conn):
        return conn.execute(
            "UPDATE deliveries SET state = 'claimed', attempts = attempts - 1, updated_at = ?"
            " WHERE send_id = ? AND subscriber_id = ? AND run_id = ? AND state = 'sending'",
            (utcnow(), send_id, subscriber_id, run_id),
        ).rowcount == 1


def record(conn: DB, send_id: int, run_id: int,
           outcomes: Iterable[tuple[int, str, str, str]]) -> int:
    """Record ``(subscriber_id, state, message_id, error)`` for rows this run holds; return how many matched.

    ``state`` is final (accepted, failed, in_doubt). A re-send of a row in
    doubt that fails leaves it in doubt: its first copy may have arrived, and
    'failed' must mean "not received" (``--retry-failed`` sends those again).
    A row that is no longer this run's (taken over after its lease expired) is
    not touched: the caller compares the count and stops.
    """
    now = utcnow()
    groups: dict[tuple[str, str, str], list[int]] = {}
    for sid, state, message_id, error in outcomes:
        if state not in ("accepted", "failed", "in_doubt"):
            raise ValueError(f"cannot record a delivery as {state!r}")
        groups.setdefault((state, message_id, error[:1000]), []).append(sid)
    if not groups:
        return 0
    with transaction(conn):
        matched = 0
        for (state, message_id, error), ids in groups.items():  # one statement per distinct outcome
            # A failed re-send of a row that was in doubt stays in doubt: an earlier copy may have arrived.
            again = "prior = 'in_doubt'" if state == "failed" else "1 = 0"
            matched += conn.execute(
                f"UPDATE deliveries SET state = CASE WHEN {again} THEN 'in_doubt' ELSE ? END,"
                f" error = CASE WHEN {again} THEN ? ELSE ? END,"
                " prior = NULL, run_id = NULL, message_id = ?, updated_at = ?"
                " WHERE send_id = ? AND run_id = ? AND state IN ('claimed', 'sending')"
                f" AND {conn.dialect.id_in('subscriber_id')}",
                (state, "an earlier copy may have arrived; the re-send failed: " + error, error, message_id, now,
                 send_id, run_id, conn.dialect.id_list(ids)),
            ).rowcount
        return matched


def release(conn: DB, send_id: int, run_id: int, subscriber_ids: Sequence[int]) -> int:
    """Undo claims whose messages certainly did not go out: each row returns to its prior state."""
    if not subscriber_ids:
        return 0
    with transaction(conn):
        return conn.executemany(
            "UPDATE deliveries SET state = prior, prior = NULL, run_id = NULL, updated_at = ?,"
            " attempts = attempts - CASE WHEN state = 'sending' THEN 1 ELSE 0 END"
            " WHERE send_id = ? AND subscriber_id = ? AND run_id = ? AND state IN ('claimed', 'sending')",
            [(utcnow(), send_id, sid, run_id) for sid in subscriber_ids],
        ).rowcount


def skip_in_doubt(conn: DB, send_id: int) -> int:
    """Mark every in-doubt row 'skipped' (the user decided not to re-send); return how many."""
    with transaction(conn):
        return conn.execute(
            "UPDATE deliveries SET state = 'skipped', updated_at = ? WHERE send_id = ? AND state = 'in_doubt'",
            (utcnow(), send_id),
        ).rowcount


def settle_from_events(conn: DB, send_id: int, *, dry_run: bool = False) -> tuple[int, int]:
    """Settle in-doubt rows from the provider's own record; return ``(accepted, failed)``.

    An event proving the hand-over (processed, delivered, deferred, bounce,
    or an open or click: the message arrived) for any attempt settles the row
    as accepted; ``dropped`` for the row's own latest attempt settles it as failed.
    """
    marks = ",".join("?" * len(PROOF_OF_HANDOVER))
    proven = (
        "EXISTS (SELECT 1 FROM events e WHERE e.send_id = deliveries.send_id"
        f" AND e.subscriber_id = deliveries.subscriber_id AND e.type IN ({marks}))"
    )
    dropped = (
        "EXISTS (SELECT 1 FROM events e WHERE e.send_id = deliveries.send_id"
        " AND e.subscriber_id = deliveries.subscriber_id AND e.type = 'dropped' AND e.attempt = deliveries.attempts)"
    )
    base = "FROM deliveries WHERE send_id = ? AND state = 'in_doubt'"
    if dry_run:
        accepted = conn.execute(f"SELECT COUNT(*) {base} AND {proven}", (send_id, *PROOF_OF_HANDOVER)).fetchone()[0]
        failed = conn.execute(f"SELECT COUNT(*) {base} AND NOT {proven} AND {dropped}",
                              (send_id, *PROOF_OF_HANDOVER)).fetchone()[0]
        return int(accepted), int(failed)
    now = utcnow()
    with transaction(conn):
        accepted = conn.execute(
            f"UPDATE deliveries SET state = 'accepted', error = 'settled: the provider reported it', updated_at = ?"
            f" WHERE send_id = ? AND state = 'in_doubt' AND {proven}",
            (now, send_id, *PROOF_OF_HANDOVER),
        ).rowcount
        failed = conn.execute(
            f"UPDATE deliveries SET state = 'failed', error = 'settled: the provider dropped it', updated_at = ?"
            f" WHERE send_id = ? AND state = 'in_doubt' AND {dropped}",
            (now, send_id),
        ).rowcount
    return accepted, failed


def next_batch_number(conn: DB, send_id: int) -> int:
    """A batch number never used before in this send."""
    return (conn.execute("SELECT MAX(batch) FROM deliveries WHERE send_id = ?", (send_id,)).fetchone()[0] or 0) + 1


# --- reports -------------------------------------------------------------------


def emails_in(conn: DB, send_id: int, state: str, limit: int = 20) -> list[tuple[str, str]]:
    """Some ``(email, error)`` of rows in ``state`` (for the report)."""
    return [
        (r[0], r[1])
        for r in conn.execute(
            "SELECT s.email, d.error FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
            " WHERE d.send_id = ? AND d.state = ? ORDER BY d.subscriber_id LIMIT ?",
            (send_id, state, limit),
        )
    ]


def list_sends(conn: DB, send_id: int | None = None) -> list[dict[str, Any]]:
    """Every send (or one), newest first, with its list name, ledger counts by state and open runs."""
    state_sums = ", ".join(f"COUNT(*) FILTER (WHERE d.state = '{s}') AS {s}" for s in STATES)
    rows = conn.execute(
        f"SELECT s.id, s.slug, l.name AS list, s.audience, s.backend, s.subject, s.created_at, s.started_at,"
        f" s.finished_at, COUNT(d.subscriber_id) AS recipients, {state_sums}, {_CLAIMED_BACK_SUMS}"
        " FROM sends s JOIN lists l ON l.id = s.list_id LEFT JOIN deliveries d ON d.send_id = s.id"
        + (" WHERE s.id = ?" if send_id is not None else "")
        + " GROUP BY s.id, l.name ORDER BY s.id DESC",
        (send_id,) if send_id is not None else (),
    ).fetchall()
    return [dict(r) for r in rows]
