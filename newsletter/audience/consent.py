"""Consent records and GDPR requests: show, export, erase; keyed hashes of
addresses and IPs; the hooks that keep imports and ``add`` honest.

Keyed hashes are HMAC-SHA256 under a key derived from ``NEWSLETTER_SECRET_KEY``
and a purpose, so an erased address cannot be found by hashing guesses
without the key, and an IP hash cannot be matched against an address hash.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from newsletter import tokens
from newsletter.errors import ConfigError, InputError, NewsletterError
from newsletter.settings import Settings

if TYPE_CHECKING:
    from newsletter.store import DB
    from newsletter.store.subscribers import SubscriberRow

IP_MODES = ("stored", "hashed", "off")
#: Outbox subfolder of confirmation emails (``confirmation`` writes there, erasure removes from there).
CONFIRMATIONS_FOLDER = "confirmations"


def keyed_hash(secret_key: str, purpose: str, text: str) -> str:
    """Hex HMAC-SHA256 of ``text`` under a key derived from ``secret_key`` for ``purpose``."""
    tokens.require_key(secret_key)
    key = hmac.new(secret_key.encode("utf-8"), b"newsletter.hash." + purpose.encode(), hashlib.sha256).digest()
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def address_hash(settings: Settings, email: str) -> str:
    """The suppression-list hash of an address (case-insensitive)."""
    return keyed_hash(settings.newsletter_secret_key, "address", email.strip().lower())


def text_sha256(text: str) -> str:
    """SHA-256 (hex) of a consent sentence, as recorded with each signup."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_ip_mode(settings: Settings) -> str:
    """``NEWSLETTER_SIGNUP_IP``, validated (``ConfigError`` otherwise)."""
    mode = settings.newsletter_signup_ip.strip().lower()
    if mode not in IP_MODES:
        raise ConfigError(f"must be one of {', '.join(IP_MODES)}, got {mode!r}", subject="NEWSLETTER_SIGNUP_IP")
    return mode


def ip_for_record(settings: Settings, ip: str) -> str:
    """What a consent record keeps of the signup's IP address: it, a keyed hash, or nothing."""
    mode = check_ip_mode(settings)
    if mode == "off" or not ip:
        return ""
    if mode == "stored":
        return ip
    return "hmac-sha256:" + keyed_hash(settings.newsletter_secret_key, "ip", ip)


def _open(settings: Settings) -> DB:
    from newsletter.store import connect

    return connect(settings.newsletter_database)


# --- hooks for import and `subscribers add` ---------------------------------


def erased_check(conn: DB, settings: Settings) -> Callable[[str], bool]:
    """A test ``erased(email)``: True for an address on the suppression list.

    The list is read once; with nothing erased the test is free and needs no key.
    """
    from newsletter.store import privacy

    hashes = privacy.suppression_hashes(conn)
    if not hashes:
        return lambda email: False
    return lambda email: address_hash(settings, email) in hashes


def record_joins(conn: DB, list_id: int, method: str, source: str, since: str) -> int:
    """Consent records for everyone who joined ``list_id`` since ``since`` by ``method`` ('import', 'add')."""
    from newsletter.store import consent as store

    return store.record_joins(conn, list_id, method, source, since)


# --- show, export, erase, purge -------------------------------------------


def _find(conn: DB, email: str, settings: Settings) -> SubscriberRow:
    from newsletter.email_validation import normalize_email
    from newsletter.store import subscribers as people

    address = normalize_email(email)
    found = people.find_subscriber(conn, address)
    if found is None:
        erased = erased_check(conn, settings)(address)
        raise InputError("erased on request: only a keyed hash of it is kept" if erased else "no such subscriber",
                         subject=address)
    return found


def show_subscriber(email: str, settings: Settings) -> dict[str, Any]:
    """A subscriber's profile, memberships, consent records and bounce decisions (``subscribers show``)."""
    from newsletter.store import bounces as deliverability
    from newsletter.store import consent as store

    conn = _open(settings)
    try:
        found = _find(conn, email, settings)
        return {
            **found.as_dict(),
            "status_reason": deliverability.status_reason(conn, found.id),
            "bounces": deliverability.decisions_of(conn, found.id),
            "memberships": [
                {"list": m["name"], "status": m["status"], "since": m["created_at"], "changed": m["updated_at"]}
                for m in store.memberships_of(conn, found.id)
            ],
            "consents": [_consent_view(c) for c in store.consents_of(conn, found.id)],
        }
    finally:
        conn.close()


def _consent_view(record: dict[str, Any]) -> dict[str, Any]:
    keys = ("list", "method", "source", "consent_text", "consent_sha256", "ip", "requested_at", "mailed_at",
            "confirmed_at", "left_at", "left_how", "left_detail")
    return {key: record[key] for key in keys}


def export_subscriber(email: str, settings: Settings) -> dict[str, Any]:
    """Everything held about one person, by table (``subscribers export``)."""
    from newsletter.store import privacy

    conn = _open(settings)
    try:
        found = _find(conn, email, settings)
        return {"exported_at": _now(), **privacy.export_person(conn, found.id)}
    finally:
        conn.close()


@dataclass(frozen=True)
class ErasureResult:
    """What ``erase_subscriber`` did."""

    email: str
    found: bool
    placeholder: str = ""
    scrubbed: int = 0
    files_removed: int = 0  # the person's messages in the outbox (issues and confirmation emails)


def erase_subscriber(email: str, settings: Settings) -> ErasureResult:
    """Erase everything personal about ``email`` and suppress it for good (``subscribers erase``).

    An address that is not held is still put on the suppression list, so a
    later import cannot add it. Every spelling of the address (its domain in
    Unicode or IDNA form, any case) is scrubbed from every text column, and
    the person's ``.eml`` files under ``NEWSLETTER_OUTBOX`` are removed.
    Afterwards the database file is compacted, so no freed page or log frame
    keeps the old values.
    """
    from newsletter.email_validation import normalize_email
    from newsletter.store import privacy, transaction
    from newsletter.store import subscribers as people

    address = normalize_email(email)
    digest = address_hash(settings, address)  # needs the key: check before anything changes
    conn = _open(settings)
    try:
        privacy.prepare(conn)  # what the erasure frees is overwritten
        with transaction(conn):
            found = people.find_subscriber(conn, address)
            if found is None:
                privacy.suppress(conn, digest)
                result = ErasureResult(address, False, scrubbed=privacy.scrub_everywhere(conn, address))
                messages: tuple[list[int], list[int]] = ([], [])
            else:
                messages = privacy.outbox_messages(conn, found.id)
                placeholder = privacy.erase_person(conn, found.id, digest)
                result = ErasureResult(address, True, placeholder)
        if found is not None:
            result = replace(result, files_removed=_remove_outbox_files(settings, found.id, *messages))
        privacy.compact(conn)
        return result
    finally:
        conn.close()


def _remove_outbox_files(settings: Settings, subscriber_id: int, send_ids: list[int], consent_ids: list[int]) -> int:
    """Remove the outbox's copies of messages to one subscriber; return how many files went.

    The outbox files a send's message as ``<outbox>/<send id>/<subscriber id>.eml`` (``delivery.outbox``)
    and a confirmation email as ``<outbox>/confirmations/<consent id>/<subscriber id>.eml``
    (``confirmation``), so the ledger and the consent records say exactly where to look. A folder moved,
    or an outbox setting changed since, is beyond reach: the README says so.
    """
    outbox = settings.path("newsletter_outbox")
    folders = [outbox / str(send_id) for send_id in send_ids]
    folders += [outbox / CONFIRMATIONS_FOLDER / str(consent_id) for consent_id in consent_ids]
    removed = 0
    for folder in folders:
        for name in (f"{subscriber_id}.eml", f"{subscriber_id}.eml.tmp"):
            try:
                (folder / name).unlink()
                removed += 1
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise NewsletterError(f"the erasure is done in the database, but the outbox file could not be "
                                      f"removed: {exc.strerror or exc}; remove it by hand",
                                      subject=str(folder / name)) from None
    return removed


def purge_pending_on(conn: DB, days: int, *, now: datetime | None = None) -> int:
    """Delete signups unconfirmed for more than ``days`` on ``conn``; return how many pending memberships went."""
    from newsletter.store import consent as store
    from newsletter.store import transaction

    if days < 0:
        raise InputError("must be 0 or more", subject="--days")
    before = ((now or datetime.now(UTC)) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with transaction(conn):
        return store.purge_unconfirmed(conn, before)


def purge_pending(settings: Settings, days: int | None = None, *, now: datetime | None = None) -> int:
    """Delete signups unconfirmed for more than ``days`` (default ``NEWSLETTER_PENDING_DAYS``); return how many."""
    conn = _open(settings)
    try:
        return purge_pending_on(conn, settings.newsletter_pending_days if days is None else days, now=now)
    finally:
        conn.close()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
