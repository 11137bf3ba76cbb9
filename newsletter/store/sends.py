"""SQL for sends: one row per (issue, list, audience), created with its ledger.

A send is created and its audience fixed in one transaction (``create_send``
writes one 'queued' ledger row per member); what becomes of each row is the
ledger's business (``store/ledger.py``). ``listing`` gives every send with its
ledger counts, from which its status is derived.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from newsletter.store import DB, transaction
from newsletter.store.ledger import CLAIMED_BACK, STATES
from newsletter.store.segments import Audience
from newsletter.store.subscribers import ON_LIST, utcnow

if TYPE_CHECKING:
    from newsletter.store.subject_tests import SubjectTest


class SendVersion(NamedTuple):
    """What a send records of the issue it sends and how it goes out (changed by ``--allow-changed``)."""

    html_sha256: str
    subject: str
    links: Sequence[str]
    backend: str


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


def count_audience(conn: DB, slug: str, list_id: int, audience: Audience = Audience()) -> tuple[int, int]:
    """``(members to send, members suppressed)`` of a send not created yet (its plan)."""
    where, params = audience.sql(conn.dialect)
    active = conn.execute(
        f"SELECT COUNT(*) FROM ({_members_sql(where)}) AS a", (list_id, *params, slug, 0)
    ).fetchone()[0]
    suppressed = conn.execute(
        "SELECT COUNT(*) FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id"
        " WHERE m.list_id = ? AND m.status = 'active' AND s.status != 'active'", (list_id,)
    ).fetchone()[0]
    return int(active), int(suppressed)


def create_send(conn: DB, slug: str, list_id: int, audience: Audience, version: SendVersion,
                test: SubjectTest | None = None) -> tuple[int, int, bool]:
    """Create a send of issue ``slug`` to ``audience`` of list ``list_id`` and fix its audience in one
    transaction; return ``(send id, audience size, created)``.

    With a subject ``test``, the test groups are drawn and fixed in the same
    transaction (``store.subject_tests.insert_rows``), and the test recorded.
    If another process created the same send a moment earlier (workers
    starting together), nothing is written and its id is returned with
    ``created`` false.
    """
    import secrets

    from newsletter.store import subject_tests

    now = utcnow()
    where, params = audience.sql(conn.dialect)
    with transaction(conn):
        row = conn.execute(
            "INSERT INTO sends (slug, list_id, audience, html_sha256, backend, subject, links, created_at, started_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (slug, list_id, audience) DO NOTHING RETURNING id",
            (slug, list_id, audience.key, version.html_sha256, version.backend, version.subject,
             json.dumps(list(version.links)), now, now),
        ).fetchone()
        if row is None:
            existing = find_send(conn, slug, list_id, audience.key)
            assert existing is not None
            return existing["id"], 0, False
        send_id = row[0]
        if test is None:
            size = conn.execute(
                "INSERT INTO deliveries (send_id, subscriber_id, state, updated_at)"
                f" SELECT ?, id, 'queued', ? FROM ({_members_sql(where)}) AS a ORDER BY id",
                (send_id, now, list_id, *params, slug, send_id),
            ).rowcount
        else:
            seed = secrets.randbelow(2**31)
            size = subject_tests.insert_rows(conn, send_id, _members_sql(where), (list_id, *params, slug, send_id),
                                             test, seed=seed, now=now)
            subject_tests.create(conn, send_id, test, subject_a=version.subject, seed=seed,
                                 decide_at=_after(now, test.wait_seconds), now=now)
    conn.dialect.refresh_statistics(conn, ("deliveries",))  # the claims' plans must know it grew
    return send_id, size, True


def _after(stamp: str, seconds: int) -> str:
    from datetime import UTC, datetime, timedelta

    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def add_new_members(conn: DB, send_id: int, list_id: int, slug: str, audience: Audience = Audience(), *,
                    dry_run: bool = False) -> int:
    """Members of ``audience`` who joined since the send started (no ledger row yet): count them, or queue them."""
    where, params = audience.sql(conn.dialect)
    select = (
        f"SELECT id FROM ({_members_sql(where)}) AS a"
        " WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.send_id = ? AND d.subscriber_id = a.id)"
    )
    args = (list_id, *params, slug, send_id, send_id)
    if dry_run:
        return int(conn.execute(f"SELECT COUNT(*) FROM ({select}) AS n", args).fetchone()[0])
    with transaction(conn):
        # A subject test's send: they wait for the pick ('held'), or get the winner's variant once it is made.
        test = conn.execute("SELECT winner FROM subject_tests WHERE send_id = ?", (send_id,)).fetchone()
        state, variant = ("queued", "") if test is None else ("held", "") if test[0] is None else ("queued", test[0])
        # ON CONFLICT: workers starting together may both queue them ("WHERE true" tells SQLite's
        # parser that ON starts the upsert, not a join).
        return conn.execute(
            "INSERT INTO deliveries (send_id, subscriber_id, state, variant, updated_at)"
            f" SELECT ?, id, ?, ?, ? FROM ({select}) AS n WHERE true ON CONFLICT DO NOTHING",
            (send_id, state, variant, utcnow(), *args),
        ).rowcount


def update_send_version(conn: DB, send_id: int, version: SendVersion) -> None:
    """Record a changed issue (``--allow-changed``) or backend on an existing send."""
    with transaction(conn):
        conn.execute(
            "UPDATE sends SET html_sha256 = ?, subject = ?, links = ?, backend = ? WHERE id = ?",
            (version.html_sha256, version.subject, json.dumps(list(version.links)), version.backend, send_id),
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


# --- reports -------------------------------------------------------------------


def listing(conn: DB, send_id: int | None = None) -> list[dict[str, Any]]:
    """Every send (or one), newest first, with its list name, ledger counts by state and open runs."""
    state_sums = ", ".join(f"COUNT(*) FILTER (WHERE d.state = '{s}') AS {s}" for s in STATES)
    claimed_back = ", ".join(f"COUNT(*) FILTER (WHERE d.state = 'claimed' AND d.prior = '{prior}') AS {key}"
                             for prior, key in CLAIMED_BACK.items())
    rows = conn.execute(
        f"SELECT s.id, s.slug, l.name AS list, s.audience, s.backend, s.subject, s.created_at, s.started_at,"
        f" s.finished_at, COUNT(d.subscriber_id) AS recipients, {state_sums}, {claimed_back}"
        " FROM sends s JOIN lists l ON l.id = s.list_id LEFT JOIN deliveries d ON d.send_id = s.id"
        + (" WHERE s.id = ?" if send_id is not None else "")
        + " GROUP BY s.id, l.name ORDER BY s.id DESC",
        (send_id,) if send_id is not None else (),
    ).fetchall()
    return [dict(r) for r in rows]
