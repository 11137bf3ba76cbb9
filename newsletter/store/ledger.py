"""The delivery ledger: one row per (send, recipient), the only truth about who got what.

Every state a recipient row can be in, and every move it can make:

| state        | means                                             | moves to                   | by                              |
|--------------|---------------------------------------------------|----------------------------|---------------------------------|
| ``queued``     | in the send's audience, not handed over yet       | claimed, sending           | ``claim``                         |
|              |                                                   | suppressed                 | ``claim``: the member left          |
| ``claimed``    | a run took it; nothing of it has left             | sending                    | ``mark_sending`` (per message)     |
|              |                                                   | its ``prior`` state          | ``unclaim``; its run ended          |
| ``sending``    | being handed over now                             | accepted, failed, in_doubt | ``record`` (the provider answered) |
|              |                                                   | claimed                    | ``unmark_sending``: refused for now |
|              |                                                   | its ``prior`` state          | ``unclaim``: provably never left    |
|              |                                                   | in_doubt                   | its run ended (``orphans_to_doubt``) |
|              |                                                   |                            | or a re-send of a doubt failed  |
| ``accepted``   | the provider took it                              | (final)                    |                                 |
| ``failed``     | the provider refused it for good                  | claimed, sending           | ``claim_ids``, ``claim`` (--retry-failed) |
| ``in_doubt``   | may or may not have gone out                      | claimed, sending           | ``claim`` (--resend-in-doubt)       |
|              |                                                   | skipped                    | ``skip_in_doubt`` (--skip-in-doubt) |
|              |                                                   | accepted, failed           | ``settle_from_events``             |
| ``skipped``    | in doubt, and the user chose not to re-send       | (final)                    |                                 |
| ``suppressed`` | left the list before its batch was claimed        | (final)                    |                                 |
| ``held``       | a subject test's rest, waiting for the pick       | queued                     | ``release_held`` (the winner's variant) |

Rows are created 'queued' when a send fixes its audience (``store/sends.py``) or, for a sequence step,
when a member's step is due (``store/sequences.py``); a member whose attributes do not match the step's
conditions gets the row created 'suppressed' (the sequence moves past them).

The rules that make a send exactly once follow from the table: a row is
claimed in one transaction before any I/O; it is 'sending' (journalled)
before its message leaves; only an answer that proves the provider refused it
makes it 'failed' or returns it; a row a dead run left 'sending' is in doubt,
and nothing moves a row out of doubt but the user (``--resend-in-doubt``,
``--skip-in-doubt``) or the provider's own record. A 'held' row never
leaves: only the pick of a subject test makes it 'queued' (with the winner's
variant), and a member who left meanwhile is then suppressed by ``claim``
like any queued row. ``TRANSITIONS`` is the
table as data (a test holds the SQL to it). Counts and a send's status
(``Totals``) are derived from the rows, never kept beside them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from newsletter.store import DB, transaction
from newsletter.store.subscribers import utcnow


class State(StrEnum):
    """The state of a recipient row (the values are what the ``deliveries.state`` column holds)."""

    QUEUED = "queued"
    CLAIMED = "claimed"
    SENDING = "sending"
    ACCEPTED = "accepted"
    FAILED = "failed"
    IN_DOUBT = "in_doubt"
    SKIPPED = "skipped"
    SUPPRESSED = "suppressed"
    HELD = "held"


#: The table above as data: the states each state may move to.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.QUEUED: frozenset({State.CLAIMED, State.SENDING, State.SUPPRESSED}),
    State.CLAIMED: frozenset({State.SENDING, State.QUEUED, State.FAILED, State.IN_DOUBT}),
    State.SENDING: frozenset({State.ACCEPTED, State.FAILED, State.IN_DOUBT, State.CLAIMED, State.QUEUED}),
    State.ACCEPTED: frozenset(),
    State.FAILED: frozenset({State.CLAIMED, State.SENDING}),
    State.IN_DOUBT: frozenset({State.CLAIMED, State.SENDING, State.SKIPPED, State.ACCEPTED, State.FAILED}),
    State.SKIPPED: frozenset(),
    State.SUPPRESSED: frozenset(),
    State.HELD: frozenset({State.QUEUED}),
}

STATES = tuple(State)
#: States no run holds: what the provider (or the user) decided.
FINAL = (State.ACCEPTED, State.FAILED, State.IN_DOUBT, State.SKIPPED, State.SUPPRESSED)
#: Provider events that prove a message was handed over (settle an in-doubt row as accepted).
PROOF_OF_HANDOVER = ("processed", "delivered", "deferred", "bounce", "open", "click")

#: A recipient as the engine needs it: (subscriber id, email, name, attempt, variant of the subject).
Claimed = tuple[int, str, str, int, str]

# An audience member is an active subscriber who is still on the list.
_ON_LIST = (
    "s.status = 'active' AND EXISTS (SELECT 1 FROM memberships m"
    " WHERE m.list_id = ? AND m.subscriber_id = s.id AND m.status = 'active')"
)


def _run_ended(conn: DB, run_id: int) -> bool:
    # A run taken over (its lease expired while it stalled) claims nothing more (store/runs.py ends runs).
    return conn.execute("SELECT 1 FROM send_runs WHERE id = ? AND ended_at IS NOT NULL", (run_id,)).fetchone() is not None


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


@dataclass(frozen=True)
class Totals:
    """A send's recipients by state, derived from its ledger rows and whether a run is live.

    Rows a dead run left 'sending' count as in doubt and rows it left
    'claimed' as what they were before (pending, in doubt or failed), exactly
    as the next run will treat them.
    """

    recipients: int = 0
    accepted: int = 0
    failed: int = 0
    in_doubt: int = 0
    skipped: int = 0
    suppressed: int = 0
    pending: int = 0
    in_flight: int = 0
    held: int = 0  # a subject test's rest, waiting for the pick
    live: bool = False

    @classmethod
    def from_counts(cls, counts: dict[str, Any], live: bool = False) -> Totals:
        """From ledger counts by state (``counts`` or a ``store.sends.listing`` row)."""
        n = {str(k): int(counts.get(k) or 0) for k in STATES}
        back = {s: 0 if live else int(counts.get(key) or 0) for s, key in CLAIMED_BACK.items()}
        back_in_doubt, back_failed = back["in_doubt"], back["failed"]
        return cls(
            recipients=sum(n.values()),
            accepted=n["accepted"],
            failed=n["failed"] + back_failed,
            in_doubt=n["in_doubt"] + back_in_doubt + (0 if live else n["sending"]),
            skipped=n["skipped"],
            suppressed=n["suppressed"],
            pending=n["queued"] + (0 if live else n["claimed"] - back_in_doubt - back_failed),
            in_flight=(n["claimed"] + n["sending"]) if live else 0,
            held=n["held"],
            live=live,
        )

    @property
    def status(self) -> str:
        """sending (a run is live), testing (a subject test's rest waits for the pick, nothing else pending),
        done (nothing left to decide), partial, or planned (no rows)."""
        if self.live:
            return "sending"
        if self.held and not self.pending:
            return "testing"
        if self.recipients and not (self.pending or self.failed or self.in_doubt):
            return "done"
        return "partial" if self.recipients else "planned"

    def line(self) -> str:
        """The counts as one line of text."""
        text = (f"{self.accepted} accepted, {self.failed} failed, {self.in_doubt} in doubt, "
                f"{self.skipped} skipped, {self.suppressed} suppressed, {self.pending} pending")
        return (text + (f", {self.in_flight} in flight" if self.in_flight else "")
                + (f", {self.held} held for the subject test's pick" if self.held else ""))


# --- moves --------------------------------------------------------------------


def _claimed_rows(conn: DB, send_id: int, run_id: int, batch: int) -> list[Claimed]:
    rows = conn.execute(
        "SELECT s.id, s.email, s.name, d.attempts, d.variant FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
        " WHERE d.send_id = ? AND d.run_id = ? AND d.batch = ? AND d.state IN ('claimed', 'sending')"
        " ORDER BY d.subscriber_id",
        (send_id, run_id, batch),
    ).fetchall()
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


class Wanted(NamedTuple):
    """What a run asks ``claim`` for: the next ``limit`` rows in state ``source`` above ``after_id``, as batch
    ``batch``; ``handed_over``: the whole batch leaves in one request (straight to 'sending')."""

    source: str
    after_id: int
    limit: int
    batch: int
    handed_over: bool


def claim(conn: DB, send_id: int, list_id: int, run_id: int, wanted: Wanted) -> tuple[list[Claimed], int]:
    """Claim the next ``wanted.limit`` rows in state ``wanted.source`` (queued, in_doubt or failed) above
    ``wanted.after_id``.

    Returns the claimed recipients (in id order) and the highest id looked
    at. In the same transaction, queued members who are no longer active or
    on the list become 'suppressed', so nobody who left a moment ago is sent
    to; in-doubt and failed rows of such members are left as they are. With
    ``handed_over`` the rows go straight to 'sending' (one request carries the
    whole batch), else to 'claimed' for ``mark_sending`` per message. A run
    that no longer holds the send (taken over) claims nothing.
    """
    source, after_id, limit, batch, handed_over = wanted
    if source not in (State.QUEUED, State.IN_DOUBT, State.FAILED):
        raise ValueError(f"cannot claim rows in state {source!r}")
    now = utcnow()
    state, bump = ("sending", 1) if handed_over else ("claimed", 0)
    dialect = conn.dialect
    with transaction(conn):
        # The rows read stay locked until COMMIT (SQLite: the write lock; PostgreSQL:
        # row locks, and rows another worker is claiming right now are skipped).
        rows = conn.execute(
            f"SELECT d.subscriber_id, {_ON_LIST.replace('s.id', 'd.subscriber_id')} AS ok, s.email, s.name, d.attempts,"
            " d.variant"
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
        taken = [] if _run_ended(conn, run_id) else [r for r in rows if r[1]]
        if taken:
            conn.execute(
                "UPDATE deliveries SET prior = state, state = ?, run_id = ?, batch = ?, attempts = attempts + ?,"
                f" updated_at = ? WHERE send_id = ? AND state = ? AND subscriber_id > ? AND subscriber_id <= ?"
                f" AND {dialect.id_in('subscriber_id')}",
                (state, run_id, batch, bump, now, send_id, source, after_id, last, dialect.id_list(r[0] for r in taken)),
            )
    return [(r[0], r[2], r[3], r[4] + bump, r[5]) for r in taken], last


def claim_ids(conn: DB, send_id: int, run_id: int, ids: Sequence[int], *, batch: int,
              handed_over: bool) -> list[Claimed]:
    """Claim again the given rows that are still 'failed' (the end-of-run retry of temporary refusals)."""
    now = utcnow()
    state, bump = ("sending", 1) if handed_over else ("claimed", 0)
    with transaction(conn):
        if _run_ended(conn, run_id):
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


def unclaim(conn: DB, send_id: int, run_id: int, subscriber_ids: Sequence[int]) -> int:
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


def orphans_to_doubt(conn: DB, send_id: int, now: str) -> int:
    """Settle the rows of ``send_id`` that no open run holds: 'sending' becomes in doubt, 'claimed' goes back.

    Their run is over, so what it handed over may have arrived and what it only
    claimed never left. Called in the transaction that ends or takes over runs
    (``store/runs.py``); returns how many rows became in doubt.
    """
    held = "(run_id IS NULL OR run_id NOT IN (SELECT id FROM send_runs WHERE ended_at IS NULL))"
    doubt = conn.execute(
        "UPDATE deliveries SET state = 'in_doubt', prior = NULL, run_id = NULL, updated_at = ?,"
        " error = 'the run sending it stopped before the provider answered'"
        f" WHERE send_id = ? AND state = 'sending' AND {held}",
        (now, send_id),
    ).rowcount
    conn.execute(
        "UPDATE deliveries SET state = COALESCE(prior, 'queued'), prior = NULL, run_id = NULL, updated_at = ?"
        f" WHERE send_id = ? AND state = 'claimed' AND {held}",
        (now, send_id),
    )
    return int(doubt)


def release_held(conn: DB, send_id: int, variant: str, now: str) -> int:
    """Make a subject test's held rows 'queued' with the winner's ``variant``; return how many.

    Called in the transaction that records the pick (``store/subject_tests.py``),
    so the rest of the audience gets exactly the variant the decision names.
    Members who left meanwhile are suppressed when their batch is claimed.
    """
    return int(conn.execute(
        "UPDATE deliveries SET state = 'queued', variant = ?, updated_at = ? WHERE send_id = ? AND state = 'held'",
        (variant, now, send_id),
    ).rowcount)


# --- reports ---


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
