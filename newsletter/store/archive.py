"""SQL for the web archive: which sends reached someone, and the lists they went to.

Read only. A send belongs in the archive when at least one of its ledger rows
was accepted by the provider; test sends are never rows of ``sends``, and the
steps of welcome emails and sequences (audience 'sequence:...') are mail to
one person at a time, not issues: they stay out. So do resends to non-readers
(audience 'non-readers-of:...'): the issue is already there from its first
send, and a resend must not move its date.
"""

from __future__ import annotations

import hashlib
from typing import Any

from newsletter.store import DB

# A send of an issue to its list (or a segment): not a sequence step, not a resend to non-readers.
_ISSUE_SEND = "s.audience NOT LIKE 'sequence:%' AND s.audience NOT LIKE 'non-readers-of:%'"
# A send reached someone: one accepted row is enough (the deliveries_state index answers it at once).
_ACCEPTED = "EXISTS (SELECT 1 FROM deliveries d WHERE d.send_id = s.id AND d.state = 'accepted')"


def delivered_sends(conn: DB) -> list[dict[str, Any]]:
    """Every send with at least one accepted recipient, oldest first, with its list and issue file.

    Each row: ``id``, ``slug``, ``html_sha256``, ``subject``, ``created_at``,
    ``started_at``, ``finished_at``, ``list`` (name), ``list_title``,
    ``list_signup`` (0/1) and ``issue_path`` (from the send's release; ''
    when it has none).
    """
    rows = conn.execute(
        "SELECT s.id, s.slug, s.html_sha256, s.subject, s.created_at, s.started_at, s.finished_at,"
        " l.name AS list, l.title AS list_title, l.signup AS list_signup, COALESCE(r.issue_path, '') AS issue_path"
        " FROM sends s JOIN lists l ON l.id = s.list_id LEFT JOIN releases r ON r.send_id = s.id"
        f" WHERE {_ACCEPTED} AND {_ISSUE_SEND} ORDER BY s.id"
    ).fetchall()
    return [dict(row) for row in rows]


def signup_lists(conn: DB) -> list[dict[str, Any]]:
    """Lists that accept public signups (``name``, ``title``, ``signup``), by name."""
    rows = conn.execute("SELECT name, title, signup FROM lists WHERE signup = 1 ORDER BY name").fetchall()
    return [dict(row) for row in rows]


def fingerprint(conn: DB) -> str:
    """A digest of everything in the database an archive is built from: equal digests, equal archives.

    Cheap enough for every request of ``serve``: the sends, whether each
    reached anyone, their release's issue file, and the lists.
    """
    digest = hashlib.sha256()
    for row in conn.execute(
        "SELECT s.id, s.slug, s.html_sha256, s.subject, s.started_at, s.finished_at, s.list_id,"
        f" COALESCE(r.issue_path, ''), CASE WHEN {_ACCEPTED} THEN 1 ELSE 0 END"
        " FROM sends s LEFT JOIN releases r ON r.send_id = s.id ORDER BY s.id"
    ):
        digest.update(repr(tuple(row)).encode())
    for row in conn.execute("SELECT id, name, title, signup FROM lists ORDER BY id"):
        digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()
