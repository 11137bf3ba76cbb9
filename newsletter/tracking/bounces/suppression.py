"""Undoing a bounce or complaint suppression (``newsletter subscribers reactivate``).

Only suppressions made *for* a person are undone here: ``bounced`` (their
mailbox failed) and, when asked explicitly, ``complained`` (they reported spam:
only on their own word). Someone who unsubscribed left on their own; only
they can come back, through a signup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsletter.errors import InputError

if TYPE_CHECKING:
    from newsletter.settings import Settings


@dataclass(frozen=True)
class Reactivation:
    """What ``reactivate`` did: the address, its status before, and whether it is active now."""

    email: str
    previous: str
    reactivated: bool


def reactivate(email: str, settings: Settings, *, complained: bool = False) -> Reactivation:
    """Make a bounced (or, with ``complained``, a complained) subscriber active again.

    ``InputError`` if the address is not held, or its status is one this does
    not undo (the message says why).
    """
    from newsletter.store import bounces as store
    from newsletter.store import connect

    address = email.strip()
    allowed = ("bounced", "complained") if complained else ("bounced",)
    conn = connect(settings.newsletter_database)
    try:
        found = store.reactivate(conn, address.lower(), allowed)
    finally:
        conn.close()
    if found is None:
        raise InputError("no such subscriber", subject=address)
    _, previous = found
    if previous == "active":
        return Reactivation(address, previous, reactivated=False)
    if previous not in allowed:
        why = {
            "complained": "reported the newsletter as spam; pass --complained only if they asked to come back",
            "unsubscribed": "unsubscribed on their own; only they can subscribe again",
            "pending": "has not confirmed their signup yet",
        }.get(previous, f"has status {previous}")
        raise InputError(f"not reactivated: {why}", subject=address)
    return Reactivation(address, previous, reactivated=True)
