"""Who an audience reaches: its members now, and how they changed since an approval counted them.

An approval records how many members the audience had and a digest of who
they were (the store keeps the ids under that digest). The gate compares:
an audience that gained members since is not the one approved (someone the
approvers never counted would get it); members who left or unsubscribed
since simply do not get it, and are reported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from newsletter.store.segments import Audience


def digest(ids: Sequence[int]) -> str:
    """SHA-256 of the sorted member ids: equal digests, equal audiences."""
    return hashlib.sha256(",".join(map(str, sorted(ids))).encode("ascii")).hexdigest()


@dataclass(frozen=True)
class Members:
    """Who an audience reaches now."""

    ids: tuple[int, ...]
    digest: str

    @classmethod
    def of(cls, ids: Iterable[int]) -> Members:
        """From member ids in any order."""
        ordered = tuple(sorted(ids))
        return cls(ordered, digest(ordered))

    @property
    def count(self) -> int:
        """How many members."""
        return len(self.ids)


def live_members(conn: Any, list_id: int, audience: Audience) -> Members:
    """The list's active members matching ``audience`` now (for a resend: its source send's non-readers)."""
    from newsletter.store import releases as store

    if audience.non_readers_of is not None:
        from newsletter.store import sends

        return Members.of(sends.member_ids(conn, "", list_id, audience))  # a resend's rule needs no issue
    where, params = audience.sql(conn.dialect)
    return Members.of(store.audience_members(conn, list_id, where, params))


@dataclass(frozen=True)
class Change:
    """How an audience changed since it was counted for an approval."""

    then: int
    now: int
    joined: int = 0
    left: int = 0
    unsubscribed: int = 0
    known: bool = True  # False: the approval's members are not in this database (only counts compare)
    same: bool = False

    @property
    def acceptable(self) -> bool:
        """True when nobody the approvers did not count would get it."""
        return self.same or (self.known and self.joined == 0)

    def describe(self) -> str:
        """'3 joined, 1 left, 2 unsubscribed since (1,234 then, 1,236 now)'."""
        counts = f"{self.then:,} then, {self.now:,} now"
        if self.same:
            return f"unchanged ({self.now:,})"
        if not self.known:
            return f"{counts}; who they were is not in this database: approve again"
        return f"{self.joined} joined, {self.left} left, {self.unsubscribed} unsubscribed since ({counts})"


def change_since(conn: Any, list_id: int, count: int, approved_digest: str, now: Members) -> Change:
    """Compare the members an approval counted (``count``, ``approved_digest``) with ``now``."""
    from newsletter.store import releases as store

    if approved_digest == now.digest:
        return Change(count, now.count, same=True)
    then = store.load_snapshot(conn, approved_digest)
    if then is None:
        return Change(count, now.count, known=False)
    before, after = set(then), set(now.ids)
    unsubscribed, left = store.departures(conn, list_id, sorted(before - after))
    return Change(len(before), now.count, joined=len(after - before), left=left, unsubscribed=unsubscribed)
