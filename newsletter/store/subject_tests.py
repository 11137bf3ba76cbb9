"""SQL for subject tests: the draw of the test groups, the counts a pick is made on, and the pick.

A send with a subject test gets its ledger rows in one statement
(``insert_rows``, in ``store.sends.create_send``'s transaction): a share of
the audience, drawn at random, is split evenly between the variants and
'queued' with its variant; everyone else is 'held' with no variant. The draw
is a hash of each subscriber id keyed by the test's ``seed`` (kept in the
``subject_tests`` row): set-based, one pass over the audience, and the same
seed draws the same groups. ``decide`` records the pick and makes the held
rows 'queued' with the winner's variant in one transaction, once: a second
pick (another worker, a late ``newsletter pick``) changes nothing.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from newsletter.store import DB, transaction
from newsletter.store.ledger import release_held

#: The variants in order: 'A' is the issue's own subject.
VARIANTS = ("A", "B", "C")
#: How the winner is picked: most human clicks, most human opens, or by `newsletter pick`.
PICKS = ("clicks", "opens", "manual")
_PRIME = 2_147_483_647  # 2**31 - 1: the hash stays below 2**62, an integer in both databases


class SubjectTest(NamedTuple):
    """A subject test as asked: the subjects of B (and C), the share of the audience tested, in percent,
    the wait before the pick in seconds, and the pick rule (``PICKS``)."""

    subjects: tuple[str, ...]
    share: int
    wait_seconds: int
    pick: str

    @property
    def variants(self) -> tuple[str, ...]:
        """The variants tested: A and one per extra subject."""
        return VARIANTS[: 1 + len(self.subjects)]


def _keys(seed: int) -> tuple[int, int, int, int]:
    # Multipliers and offsets of the hash, from the seed alone (so the seed replays the draw).
    import random

    rng = random.Random(seed)
    return (rng.randrange(1, _PRIME), rng.randrange(_PRIME), rng.randrange(1, _PRIME), rng.randrange(_PRIME))


def _xor_shift(column: str, bits: int) -> str:
    # a XOR (a >> bits), written with | and & (SQLite has no XOR operator).
    shifted = f"({column} / {1 << bits})"
    return f"(({column} | {shifted}) - ({column} & {shifted}))"


def insert_rows(conn: DB, send_id: int, members_sql: str, params: tuple[Any, ...], spec: SubjectTest, *,
                seed: int, now: str) -> int:
    """Insert the ledger rows of a send with a subject test (inside the caller's transaction); return how many.

    ``members_sql`` selects the audience's ids (column ``id``) with ``params``.
    Ranked by a keyed hash of the id, the first ``share`` percent (at least one
    member per variant) are dealt out A, B, C, A, B, C... and 'queued'; the rest
    are 'held'. Every number in the SQL is an integer made here, not user input.
    """
    m1, c1, m2, c2 = _keys(seed)
    k = len(spec.variants)
    hashed = (
        f"SELECT id, {_xor_shift('h', 13)} AS h FROM ("
        f"SELECT id, ({_xor_shift('h', 15)} * {m2} + {c2}) % {_PRIME} AS h FROM ("
        f"SELECT id, (CAST(id AS BIGINT) * {m1} + {c1}) % {_PRIME} AS h FROM ({members_sql}) AS a) AS h1) AS h2"
    )
    ranked = f"SELECT id, ROW_NUMBER() OVER (ORDER BY h, id) AS r, COUNT(*) OVER () AS n FROM ({hashed}) AS h3"
    tested = f"(r * 100 <= n * {int(spec.share)} OR r <= {k})"
    return int(conn.execute(
        "INSERT INTO deliveries (send_id, subscriber_id, state, variant, updated_at)"
        f" SELECT ?, id, CASE WHEN {tested} THEN 'queued' ELSE 'held' END,"
        f" CASE WHEN {tested} THEN substr('ABC', CAST((r - 1) % {k} AS INTEGER) + 1, 1) ELSE '' END, ?"
        f" FROM ({ranked}) AS t ORDER BY id",
        (send_id, now, *params),
    ).rowcount)


def create(conn: DB, send_id: int, spec: SubjectTest, *, subject_a: str, seed: int, decide_at: str, now: str) -> None:
    """Record the test of a send being created (inside ``create_send``'s transaction)."""
    variants = dict(zip(spec.variants, (subject_a, *spec.subjects), strict=True))
    conn.execute(
        "INSERT INTO subject_tests (send_id, variants, share, pick, wait_seconds, seed, decide_at, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (send_id, json.dumps(variants), spec.share, spec.pick, spec.wait_seconds, seed, decide_at, now),
    )


def get(conn: DB, send_id: int) -> dict[str, Any] | None:
    """The subject test of a send (``variants`` and ``results`` decoded), or ``None``."""
    row = conn.execute("SELECT * FROM subject_tests WHERE send_id = ?", (send_id,)).fetchone()
    if row is None:
        return None
    found = dict(row)
    found["variants"] = json.loads(found["variants"])
    found["results"] = json.loads(found["results"] or "{}")
    return found


def all_tests(conn: DB) -> dict[int, dict[str, Any]]:
    """Every subject test, by send id (for the listing of sends)."""
    ids = [r[0] for r in conn.execute("SELECT send_id FROM subject_tests")]
    return {send_id: found for send_id in ids if (found := get(conn, send_id)) is not None}


def variant_counts(conn: DB, send_id: int) -> dict[str, dict[str, int]]:
    """Per variant of a send: ledger rows (``recipients``), ``accepted`` ones, and recipients with a human
    open or click (``opens``: a click means an open too) and with a human click (``clicks``).

    Once the pick has released the rest, the winner's rows include them: the
    counts the pick was made on are the ``results`` it recorded.
    """
    found = {v: {"recipients": 0, "accepted": 0, "opens": 0, "clicks": 0} for v in VARIANTS}
    for variant, rows, accepted in conn.execute(
            "SELECT variant, COUNT(*), COUNT(*) FILTER (WHERE state = 'accepted') FROM deliveries"
            " WHERE send_id = ? AND variant != '' GROUP BY variant", (send_id,)):
        found[variant].update(recipients=int(rows), accepted=int(accepted))
    # "type IN ('open', 'click')" is the events index's condition, word for word (store/engagement.py).
    for variant, opens, clicks in conn.execute(
            "SELECT d.variant, COUNT(DISTINCT e.subscriber_id),"
            " COUNT(DISTINCT e.subscriber_id) FILTER (WHERE e.type = 'click')"
            " FROM events e JOIN deliveries d ON d.send_id = e.send_id AND d.subscriber_id = e.subscriber_id"
            " WHERE e.send_id = ? AND e.type IN ('open', 'click') AND e.verdict = 'human' AND d.variant != ''"
            " GROUP BY d.variant", (send_id,)):
        found[variant].update(opens=int(opens), clicks=int(clicks))
    return found


class Decision(NamedTuple):
    """A pick: the winning variant, the counts it was made on, the confidence, who decided and when."""

    winner: str
    results: dict[str, dict[str, int]]
    confidence: float | None
    decided_by: str
    decided_at: str


def decide(conn: DB, send_id: int, decision: Decision) -> int | None:
    """Record the pick and release the held rows with the winner's variant, in one transaction.

    Returns how many held rows became 'queued', or ``None`` when the test was
    decided already (by another worker or person a moment earlier): then
    nothing changes, so a send is never picked twice or two ways.
    """
    with transaction(conn):
        moved = conn.execute(
            "UPDATE subject_tests SET winner = ?, results = ?, confidence = ?, decided_by = ?, decided_at = ?"
            " WHERE send_id = ? AND winner IS NULL",
            (decision.winner, json.dumps(decision.results), decision.confidence, decision.decided_by,
             decision.decided_at, send_id),
        ).rowcount
        if moved != 1:
            return None
        # The dashboard's cached counts of a send are kept while no run starts; this move is outside a run.
        conn.execute("DELETE FROM send_ledger_cache WHERE send_id = ?", (send_id,))
        return release_held(conn, send_id, decision.winner, decision.decided_at)
