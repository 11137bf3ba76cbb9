"""The preference page's logic: what a subscriber sees ("manage your
subscription") and the changes they may make there: leave any list they are
on, leave everything, correct their name. A member sees every list they are
on, whether or not it takes signups (lists made by an import do not): nobody
is kept on a list they cannot see to leave.

The signed link is the authority, as for one-click unsubscribe; the page
itself never changes anything on GET.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from newsletter.audience.forms import MAX_NAME
from newsletter.errors import InputError

if TYPE_CHECKING:
    from newsletter.store import DB

#: ``status_reason`` and consent ``left_how`` for changes made on the page.
HOW = "preferences"


@dataclass
class Preferences:
    """What the page shows: the address, the name, whether anything is sent, and the lists they are on."""

    subscriber_id: int
    email: str
    name: str
    active: bool
    lists: list[dict[str, Any]] = field(default_factory=list)  # {name, title} of every list they are on


def view(conn: DB, subscriber_id: int) -> Preferences | None:
    """The page's content for a subscriber, or ``None`` if there is no such subscriber."""
    from newsletter.store import consent as store
    from newsletter.store import subscribers as people

    found = people.get_subscriber(conn, subscriber_id)
    if found is None:
        return None
    lists = [
        {"name": m["name"], "title": m["title"] or m["name"]}
        for m in store.memberships_of(conn, subscriber_id)
        if m["status"] == "active"  # signup on or off: a member may always leave
    ]
    active = found.status == "active"
    return Preferences(found.id, found.email, found.name, active, lists if active else [])


def save(conn: DB, subscriber_id: int, name: str, keep: Iterable[str]) -> Preferences | None:
    """Apply the page's form: leave the lists not in ``keep``, set the name; return the new view."""
    from newsletter.audience.members import clean_name
    from newsletter.store import consent as store
    from newsletter.store import transaction

    name = clean_name(name)
    if len(name) > MAX_NAME:
        raise InputError(f"longer than {MAX_NAME} characters", subject="name")
    keep = set(keep)
    with transaction(conn):
        current = view(conn, subscriber_id)
        if current is None or not current.active:
            return current
        ids = {m["name"]: m["list_id"] for m in store.memberships_of(conn, subscriber_id)}
        leaving = [ids[m["name"]] for m in current.lists if m["name"] not in keep]
        store.leave_lists(conn, subscriber_id, leaving, HOW)
        if name != current.name:
            store.rename(conn, subscriber_id, name)
    return view(conn, subscriber_id)


def leave_everything(conn: DB, subscriber_id: int) -> None:
    """Unsubscribe from every list at once (the subscriber is suppressed, as by one-click)."""
    from newsletter.store import subscribers as people
    from newsletter.store import transaction

    with transaction(conn):
        found = people.get_subscriber(conn, subscriber_id)
        if found is not None and found.status == "active":
            people.set_status(conn, subscriber_id, "unsubscribed", HOW)
