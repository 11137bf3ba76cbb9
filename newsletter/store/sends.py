"""SQL for sends: one row per (issue, list, audience), created with its ledger.

A send is created and its audience fixed in one transaction (``create_send``
writes one 'queued' ledger row per member; a scheduled resend's is fixed when
it starts, ``fix_audience``); a resend's audience is the non-readers of its
source send (``_non_readers_sql``, ``check_source``); what becomes of each row is the
ledger's business (``store/ledger.py``). ``listing`` gives every send with its
ledger counts, from which its status is derived.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from newsletter.errors import InputError
from newsletter.store import DB, transaction
from newsletter.store.ledger import CLAIMED_BACK, STATES, counts
from newsletter.store.segments import NON_READERS_OF, Audience
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


def _on_list_sql(where: str) -> str:
    # The ids of the list's active members (parameter: the list id) who match ``where`` (the audience's conditions).
    return ("SELECT s.id FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id"
            f" WHERE m.list_id = ? AND {ON_LIST}" + (f" AND ({where})" if where else ""))


def _members_sql(where: str) -> str:
    # Active members of the list (and of the segment), minus anyone another send of this issue on this
    # list holds (segments overlap): handed it, in doubt, skipped, and also still queued, held or failed
    # there, since that send may yet send or retry them. Only a row suppressed there (they had left) frees them.
    return (
        _on_list_sql(where)
        + " AND NOT EXISTS (SELECT 1 FROM deliveries o JOIN sends os ON os.id = o.send_id"
        "  WHERE o.subscriber_id = s.id AND os.slug = ? AND os.list_id = m.list_id AND os.id != ?"
        "  AND o.state != 'suppressed')"
    )


#: What counts as reading a send: a human open or click, or a click we cannot judge (a click is an act;
#: the rules name the scanners that click everything). An unknown open does not: it is mostly an image
#: proxy or a client we cannot name (the README's "Resending to people who did not read"). Each is its own
#: NOT EXISTS that seeks the partial index on (send_id, type, verdict, subscriber_id) to one recipient
#: ("type IN ('open', 'click')" is its condition, word for word): an OR of verdicts would scan every
#: event of the send for each member.
READS = (("human", "('open', 'click')"), ("unknown", "('click')"))


def _non_readers_sql(where: str) -> str:
    # A resend: active members of the list (and of the segment) who were handed the source send
    # ('accepted'), have no read of it, and are in no other resend of it (in any state but suppressed: two
    # resends of one send never overlap, even while both are queued; a failed row too, since `--retry-failed`
    # may still send it). The source send's own row does not exclude them, as the rule of other sends above would.
    return (
        _on_list_sql(where)
        + " AND EXISTS (SELECT 1 FROM deliveries r WHERE r.send_id = ? AND r.subscriber_id = s.id"
        "  AND r.state = 'accepted')"
        + "".join(" AND NOT EXISTS (SELECT 1 FROM events e WHERE e.send_id = ? AND e.type IN ('open', 'click')"
                  f" AND e.type IN {types} AND e.verdict = '{verdict}' AND e.subscriber_id = s.id)"
                  for verdict, types in READS)
        + " AND NOT EXISTS (SELECT 1 FROM deliveries o JOIN sends os ON os.id = o.send_id"
        "  WHERE o.subscriber_id = s.id AND os.list_id = m.list_id AND os.id != ?"
        "  AND (os.audience = ? OR os.audience LIKE ?) AND o.state != 'suppressed')"
    )


def _members(conn: DB, audience: Audience, list_id: int, slug: str, send_id: int) -> tuple[str, tuple[Any, ...]]:
    """``(select, params)``: the ids of who ``audience`` reaches for send ``send_id`` (0: a send not created yet)."""
    where, params = audience.sql(conn.dialect)
    if audience.non_readers_of is None:
        return _members_sql(where), (list_id, *params, slug, send_id)
    source = audience.non_readers_of
    family = f"{NON_READERS_OF}{source}"  # its key, and the prefix of its keys with conditions
    reads = (source,) * len(READS)
    return _non_readers_sql(where), (list_id, *params, source, *reads, send_id, family, family + " %")


def count_audience(conn: DB, slug: str, list_id: int, audience: Audience = Audience()) -> tuple[int, int]:
    """``(members to send, members suppressed)`` of a send not created yet (its plan)."""
    select, args = _members(conn, audience, list_id, slug, 0)
    active = conn.execute(f"SELECT COUNT(*) FROM ({select}) AS a", args).fetchone()[0]
    suppressed = conn.execute(
        "SELECT COUNT(*) FROM memberships m JOIN subscribers s ON s.id = m.subscriber_id"
        " WHERE m.list_id = ? AND m.status = 'active' AND s.status != 'active'", (list_id,)
    ).fetchone()[0]
    return int(active), int(suppressed)


def member_ids(conn: DB, slug: str, list_id: int, audience: Audience) -> list[int]:
    """Ids of who ``audience`` would reach now in a new send of issue ``slug`` (approvals of a resend)."""
    select, args = _members(conn, audience, list_id, slug, 0)
    return [r[0] for r in conn.execute(f"SELECT id FROM ({select}) AS a ORDER BY id", args)]


def create_send(conn: DB, slug: str, list_id: int, audience: Audience, version: SendVersion,
                test: SubjectTest | None = None, *, fill: bool = True) -> tuple[int, int, bool]:
    """Create a send of issue ``slug`` to ``audience`` of list ``list_id`` and fix its audience in one
    transaction; return ``(send id, audience size, created)``.

    With a subject ``test``, the test groups are drawn and fixed in the same
    transaction (``store.subject_tests.insert_rows``), and the test recorded.
    If another process created the same send a moment earlier (workers
    starting together), nothing is written and its id is returned with
    ``created`` false. Without ``fill`` the send gets no ledger rows and no
    start time: its audience is fixed when it starts (``fix_audience``), as a
    scheduled resend's must be (who reads in the meantime is not mailed).
    """
    import secrets

    from newsletter.store import subject_tests

    now = utcnow()
    with transaction(conn):
        row = conn.execute(
            "INSERT INTO sends (slug, list_id, audience, html_sha256, backend, subject, links, created_at, started_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (slug, list_id, audience) DO NOTHING RETURNING id",
            (slug, list_id, audience.key, version.html_sha256, version.backend, version.subject,
             json.dumps(list(version.links)), now, now if fill else None),
        ).fetchone()
        if row is None:
            existing = find_send(conn, slug, list_id, audience.key)
            assert existing is not None
            return existing["id"], 0, False
        send_id = row[0]
        size = 0
        if fill and test is None:
            size = _fill(conn, send_id, list_id, slug, audience, now)
        elif fill and test is not None:
            seed = secrets.randbelow(2**31)
            select, args = _members(conn, audience, list_id, slug, send_id)
            size = subject_tests.insert_rows(conn, send_id, select, args, test, seed=seed, now=now)
            subject_tests.create(conn, send_id, test, subject_a=version.subject, seed=seed,
                                 decide_at=_after(now, test.wait_seconds), now=now)
    if fill:
        conn.dialect.refresh_statistics(conn, ("deliveries",))  # the claims' plans must know it grew
    return send_id, size, True


def _fill(conn: DB, send_id: int, list_id: int, slug: str, audience: Audience, now: str) -> int:
    select, args = _members(conn, audience, list_id, slug, send_id)
    return conn.execute(
        f"INSERT INTO deliveries (send_id, subscriber_id, state, updated_at) SELECT ?, id, 'queued', ? FROM ({select}) AS a"
        " ORDER BY id", (send_id, now, *args),
    ).rowcount


def fix_audience(conn: DB, send_id: int, list_id: int, slug: str, audience: Audience) -> int | None:
    """Fix the audience of a send created without it (``create_send(fill=False)``): its ledger rows and its
    start time, in one transaction; return how many rows, or ``None`` if it was fixed already (by another
    worker a moment earlier, or by an earlier run)."""
    now = utcnow()
    with transaction(conn):
        if conn.execute("UPDATE sends SET started_at = ? WHERE id = ? AND started_at IS NULL",
                        (now, send_id)).rowcount != 1:
            return None
        size = _fill(conn, send_id, list_id, slug, audience, now)
    conn.dialect.refresh_statistics(conn, ("deliveries",))
    return size


def check_source(conn: DB, source_id: int, list_id: int, list_name: str, slug: str) -> dict[str, Any]:
    """The send ``--to-non-readers-of`` names, with its ``accepted`` count; ``InputError`` (exit 2) when it
    does not exist, went to another list or issue, is itself a resend, or is not finished (recipients
    still pending: only a finished send says who received it)."""
    subject = "--to-non-readers-of"
    source = get_send(conn, source_id)
    if source is None:
        raise InputError(f"no send {source_id} (see `newsletter sends`)", subject=subject)
    if source["list_id"] != list_id:
        raise InputError(f"send {source_id} went to another list, not {list_name!r}", subject=subject)
    if source["slug"] != slug:
        raise InputError(f"send {source_id} sent issue {source['slug']!r}, not {slug!r}", subject=subject)
    if str(source["audience"]).startswith(NON_READERS_OF):
        raise InputError(f"send {source_id} is itself a resend ({source['audience']}); an issue is resent once, "
                         "to the non-readers of the first send", subject=subject)
    found = counts(conn, source_id)
    pending = found["queued"] + found["claimed"] + found["sending"]
    if pending or source["started_at"] is None:
        raise InputError(f"send {source_id} is not finished ({pending} recipient(s) pending or being sent); "
                         f"finish it first (`newsletter sends {source_id}`)", subject=subject)
    return {**source, "accepted": found["accepted"]}


def _after(stamp: str, seconds: int) -> str:
    from datetime import UTC, datetime, timedelta

    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def add_new_members(conn: DB, send_id: int, list_id: int, slug: str, audience: Audience = Audience(), *,
                    dry_run: bool = False) -> int:
    """Members of ``audience`` who joined since the send started (no ledger row yet): count them, or queue them."""
    members, args = _members(conn, audience, list_id, slug, send_id)
    select = (
        f"SELECT id FROM ({members}) AS a"
        " WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.send_id = ? AND d.subscriber_id = a.id)"
    )
    args = (*args, send_id)
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
