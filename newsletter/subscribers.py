"""Subscribers and lists: CSV import, add, unsubscribe, listing.

Library functions: they take settings, return result objects and raise
``InputError`` for unusable input before anything is written (an import is a
single transaction: it lands completely or not at all).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from newsletter.errors import InputError
from newsletter.settings import Settings

#: Control characters (C0, DEL, C1) never belong in a name or an address: they
#: would end up in a header.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass
class ImportResult:
    """What ``import_csv`` did: counts plus the invalid rows as ``(line, reason)``."""

    list_name: str
    added: int = 0
    updated: int = 0
    suppressed: int = 0
    duplicates: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class AddResult:
    """What ``add_subscriber`` did."""

    email: str
    action: str  # 'added' or 'updated'
    status: str
    list_name: str


def _open(settings: Settings):
    from newsletter.store import connect

    return connect(settings.newsletter_database)


def normalize_email(raw: str) -> str:
    """The normalised form of an address; ``InputError`` if it is not a valid address (syntax only)."""
    from email_validator import EmailNotValidError, validate_email

    text = (raw or "").strip()
    if not text:
        raise InputError("empty address")
    if _CONTROL.search(text):
        raise InputError("control characters in address")
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InputError(str(exc), subject=text) from None


def clean_name(raw: str) -> str:
    """A name with surrounding blanks removed; ``InputError`` if it has control characters."""
    text = (raw or "").strip()
    if _CONTROL.search(text):
        raise InputError("control characters in name")
    return text


def _check_list_name(name: str) -> str:
    name = (name or "").strip()
    if not name or _CONTROL.search(name):
        raise InputError("a list needs a name without control characters", subject="--list")
    return name


def import_csv(
    path: str | Path,
    list_name: str,
    settings: Settings,
    *,
    progress: Callable[[int, int | None], None] | None = None,
) -> ImportResult:
    """Import subscribers from a CSV file with a header row into list ``list_name``.

    ``email`` is required; ``name`` (or ``first_name``/``last_name``) is
    optional; other columns become attributes. Invalid rows are skipped and
    reported with their line numbers; duplicates (any case) merge; a
    suppressed address stays suppressed. ``progress(done, total)`` is called
    as subscribers are written.
    """
    from newsletter.audience import consent
    from newsletter.store import subscribers as store
    from newsletter.store import transaction

    list_name = _check_list_name(list_name)
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError("file not found", subject=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read CSV: {exc}", subject=str(path)) from None
    reader = csv.DictReader(text.splitlines(keepends=True))
    columns = {(c or "").strip().lower(): c for c in (reader.fieldnames or [])}
    if "email" not in columns:
        raise InputError("no 'email' column in the header row", subject=str(path))

    result = ImportResult(list_name=list_name)
    parsed: dict[str, tuple[str, str, dict[str, Any]]] = {}  # email_key -> (email, name, attributes)
    try:
        for row in reader:
            line = reader.line_num
            values = {key: (row.get(original) or "").strip() for key, original in columns.items()}
            if not any(values.values()):
                continue  # blank line
            try:
                email = normalize_email(values["email"])
                name = clean_name(values.get("name") or " ".join(
                    v for v in (values.get("first_name", ""), values.get("last_name", "")) if v
                ))
            except InputError as exc:
                result.invalid.append((line, exc.message if not exc.subject else f"{exc.subject}: {exc.message}"))
                continue
            attributes = {
                k: v for k, v in values.items() if k not in ("email", "name", "first_name", "last_name") and k and v
            }
            key = email.lower()
            if key in parsed:
                result.duplicates += 1
                old_email, old_name, old_attrs = parsed[key]
                parsed[key] = (old_email, name or old_name, {**old_attrs, **attributes})
            else:
                parsed[key] = (email, name, attributes)
    except csv.Error as exc:
        raise InputError(f"line {reader.line_num}: {exc}", subject=str(path)) from None

    conn = _open(settings)
    try:
        with transaction(conn):
            list_id = store.ensure_list(conn, list_name)
            now = store.utcnow()
            erased = consent.erased_check(conn, settings)  # audience: erased addresses stay out
            if conn.dialect.bulk_import:  # PostgreSQL: COPY, in batches
                _import_in_bulk(conn, list_id, parsed.values(), erased, now, path.name, result, progress)
                parsed_rows: Any = ()
            else:
                parsed_rows = parsed.values()
            for done, (email, name, attributes) in enumerate(parsed_rows):
                if progress and done % 1000 == 0:
                    progress(done, len(parsed))
                if erased(email):  # audience
                    result.suppressed += 1
                    continue
                sid, action, status = store.upsert_subscriber(conn, email, name, attributes, now=now)
                membership = store.add_membership(conn, list_id, sid, now=now)
                if status != "active" or membership != "active":
                    result.suppressed += 1
                elif action == "added":
                    result.added += 1
                else:
                    result.updated += 1
            consent.record_joins(conn, list_id, "import", path.name, since=now)  # audience: consent records
    finally:
        conn.close()
    if progress:
        progress(len(parsed), len(parsed))
    return result


#: Rows written per batch on a database with a bulk path (PostgreSQL's COPY).
BULK_BATCH = 1000


def _import_in_bulk(conn: Any, list_id: int, rows: Any, erased: Callable[[str], bool], now: str, source: str,
                    result: ImportResult, progress: Callable[[int, int | None], None] | None) -> None:
    """Write parsed rows through the database's bulk path, ``BULK_BATCH`` at a time, counting into ``result``
    (consent records included: ``record_joins`` then finds nothing left to write)."""
    rows = list(rows)
    for number, start in enumerate(range(0, len(rows), BULK_BATCH), start=1):
        if progress:
            progress(start, len(rows))
        if number & (number - 1) == 0:  # batches 1, 2, 4, 8, ...: the tables doubled since the last look
            conn.dialect.refresh_statistics(conn, ("subscribers", "memberships", "consents"))
        batch = []
        for row in rows[start:start + BULK_BATCH]:
            if erased(row[0]):
                result.suppressed += 1
            else:
                batch.append(row)
        added, updated, suppressed = conn.dialect.import_subscribers(conn, list_id, batch, now, source)
        result.added, result.updated, result.suppressed = (result.added + added, result.updated + updated,
                                                           result.suppressed + suppressed)
    conn.dialect.refresh_statistics(conn, ("subscribers", "memberships", "consents"))


def add_subscriber(email: str, list_name: str, settings: Settings, *, name: str = "") -> AddResult:
    """Add (or update) one subscriber and put them on ``list_name``."""
    from newsletter.audience import consent
    from newsletter.store import subscribers as store
    from newsletter.store import transaction

    list_name = _check_list_name(list_name)
    email = normalize_email(email)
    name = clean_name(name)
    conn = _open(settings)
    try:
        with transaction(conn):
            list_id = store.ensure_list(conn, list_name)
            if consent.erased_check(conn, settings)(email):  # audience: an erased address stays out
                raise InputError("erased on request earlier, so it cannot be added (its owner may sign up again)",
                                 subject=email)
            now = store.utcnow()
            sid, action, status = store.upsert_subscriber(conn, email, name, {}, now=now)
            membership = store.add_membership(conn, list_id, sid, now=now)
            consent.record_joins(conn, list_id, "add", "", since=now)  # audience: consent record
    finally:
        conn.close()
    return AddResult(email=email, action=action, status=status if membership == "active" else membership,
                     list_name=list_name)


def unsubscribe(email: str, settings: Settings, *, reason: str = "manual") -> str:
    """Mark a subscriber unsubscribed; return the previous status. ``InputError`` if unknown."""
    from newsletter.store import subscribers as store
    from newsletter.store import transaction

    conn = _open(settings)
    try:
        with transaction(conn):
            found = store.find_subscriber(conn, email.strip())
            if found is None:
                raise InputError("no such subscriber", subject=email.strip())
            if found.status == "active":
                store.set_status(conn, found.id, "unsubscribed", reason)
    finally:
        conn.close()
    return found.status


def list_subscribers(settings: Settings, *, list_name: str | None = None, status: str | None = None):
    """Subscribers (``SubscriberRow``), optionally of one list and one status, in id order.

    Returns a generator that streams from the database; it closes the
    connection when exhausted.
    """
    from newsletter.store import subscribers as store

    if status is not None and status not in store.LISTED_STATUSES:
        raise InputError(f"must be one of {', '.join(store.LISTED_STATUSES)}", subject="--status")
    conn = _open(settings)
    list_id = None
    if list_name is not None:
        list_id = store.find_list(conn, list_name)
        if list_id is None:
            conn.close()
            raise InputError("no such list (see `newsletter lists`)", subject=list_name)

    def rows():
        try:
            yield from store.iter_subscribers(conn, list_id=list_id, status=status)
        finally:
            conn.close()

    return rows()


def list_lists(settings: Settings) -> list[dict[str, Any]]:
    """Every list with member and active counts."""
    from newsletter.store import subscribers as store

    conn = _open(settings)
    try:
        return store.list_summaries(conn)
    finally:
        conn.close()
