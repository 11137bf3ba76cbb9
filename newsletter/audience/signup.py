"""Public signups with double opt-in.

``register`` takes one submitted form (already parsed into a dict), checks
it, and records a pending membership with an unconfirmed consent record. It
returns the confirmation to send, or ``None`` whenever nothing is to be sent
(the address is already on the list, a confirmation went out recently, the
honeypot was filled): callers answer every case the same way, so nobody can
learn from the answer whether an address is subscribed. ``confirm`` is the
person's click on the button of the confirm page.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from newsletter import tokens
from newsletter.audience.consent import address_hash, ip_for_record, text_sha256
from newsletter.audience.forms import HONEYPOT, MAX_NAME
from newsletter.errors import InputError
from newsletter.settings import Settings

if TYPE_CHECKING:
    from newsletter.store import DB

_YES = {"yes", "on", "true", "1"}


class SignupClosed(InputError):
    """The list does not exist or does not accept public signups."""


@dataclass(frozen=True)
class SignupForm:
    """One submitted signup, checked: a valid address, a clean name, consent given."""

    email: str
    name: str
    consent_sha256: str
    is_bot: bool


@dataclass(frozen=True)
class Confirmation:
    """A confirmation email to send: who, for which list, and the signed link's parts."""

    subscriber_id: int
    list_id: int
    consent_id: int
    email: str
    list_name: str
    list_title: str


def _text(fields: Mapping[str, Any], key: str) -> str:
    value = fields.get(key, "")
    if isinstance(value, bool) or value is None:
        return ""
    if not isinstance(value, str):
        raise InputError("must be text", subject=key)
    return value


def parse_form(fields: Mapping[str, Any]) -> SignupForm:
    """Check a submitted form (from the HTML form or JSON); ``InputError`` naming the field at fault.

    A filled honeypot makes ``is_bot`` true and skips every other check.
    """
    from newsletter.audience.members import clean_name
    from newsletter.email_validation import normalize_email

    if _text(fields, HONEYPOT).strip():
        return SignupForm("", "", "", True)
    email = normalize_email(_text(fields, "email"))
    name = clean_name(_text(fields, "name"))
    if len(name) > MAX_NAME:
        raise InputError(f"longer than {MAX_NAME} characters", subject="name")
    consent = fields.get("consent")
    if not (consent is True or (isinstance(consent, str) and consent.strip().lower() in _YES)):
        raise InputError("please tick the box to agree to receive the newsletter", subject="consent")
    digest = _text(fields, "consent_sha256").strip().lower()
    if digest and (len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest)):
        raise InputError("not a SHA-256 hash", subject="consent_sha256")
    return SignupForm(email, name, digest, False)


def open_list(conn: DB, list_name: str) -> dict[str, Any]:
    """The list ``list_name`` if it accepts signups; ``SignupClosed`` otherwise."""
    from newsletter.store import subscribers as people

    info = people.get_list(conn, list_name)
    if info is None or not info["signup"]:
        raise SignupClosed("this list does not accept signups", subject=list_name)
    return info


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def register(
    conn: DB,
    settings: Settings,
    list_name: str,
    form: SignupForm,
    *,
    ip: str,
    source: str,
    now: datetime | None = None,
) -> Confirmation | None:
    """Record a signup for ``list_name``; return the confirmation to send, or ``None`` (see module doc)."""
    from newsletter.store import consent as store
    from newsletter.store import transaction

    info = open_list(conn, list_name)
    if form.is_bot:
        return None
    text = settings.newsletter_consent_text
    current = text_sha256(text)
    # The form says which sentence it showed; an old pasted snippet may show an older one.
    shown = form.consent_sha256 or current
    facts = store.ConsentFacts(
        source=source,
        consent_text=text if shown == current else "",
        consent_sha256=shown,
        ip=ip_for_record(settings, ip),
    )
    now = now or datetime.now(UTC)
    mail_after = _iso(now - timedelta(minutes=settings.newsletter_confirm_interval_minutes))
    with transaction(conn):
        outcome = store.register_signup(conn, info["id"], form.email, form.name, facts, mail_after=mail_after,
                                        now=_iso(now))
    if not outcome.send_confirmation:
        return None
    return Confirmation(outcome.subscriber_id, info["id"], outcome.consent_id, form.email, info["name"], info["title"])


def confirm_url(settings: Settings, confirmation: Confirmation, *, now: float | None = None) -> str:
    """The signed confirm link for ``confirmation``, valid for ``NEWSLETTER_CONFIRM_HOURS``."""
    expires = int((time.time() if now is None else now) + settings.newsletter_confirm_hours * 3600)
    return tokens.confirm_url(settings.newsletter_public_url, settings.newsletter_secret_key,
                              confirmation.subscriber_id, confirmation.list_id, confirmation.consent_id, expires)


def mail_failed(conn: DB, consent_id: int) -> None:
    """Forget that a confirmation was sent (it could not be), so the next signup sends one."""
    from newsletter.store import consent as store
    from newsletter.store import transaction

    with transaction(conn):
        store.unmark_mailed(conn, consent_id)


def pending(conn: DB, settings: Settings, token: str) -> dict[str, Any]:
    """The signup a confirm link names (address, list, whether confirmed); ``InvalidToken`` if bad, expired or gone."""
    from newsletter.store import consent as store

    subscriber_id, list_id, consent_id = tokens.read_confirm(settings.newsletter_secret_key, token, time.time())
    record = store.pending_record(conn, consent_id, subscriber_id, list_id)
    if record is None:
        raise tokens.InvalidToken()
    return record


def confirm(conn: DB, settings: Settings, token: str) -> dict[str, Any]:
    """Confirm the signup a link names (idempotent); return it as ``pending`` does, as it is afterwards.

    The address comes off the suppression list if it was erased before: this
    is the person's own new double opt-in. A link confirmed before changes
    nothing, so someone who left the list since stays out (``subscribed`` is
    then False: the page must not say otherwise).
    """
    from newsletter.store import consent as store
    from newsletter.store import privacy, transaction

    with transaction(conn):
        record = pending(conn, settings, token)
        if store.confirm_signup(conn, record["id"]):
            privacy.lift_suppression(conn, address_hash(settings, record["email_key"]))
            record = pending(conn, settings, token)
    return record
