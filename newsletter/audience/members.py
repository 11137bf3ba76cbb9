"""Subscribers and lists: CSV import, add, unsubscribe, listing.

Library functions: they take settings, return result objects and raise
``InputError`` for unusable input.

An import streams: the CSV is read row by row and written in batches of
``IMPORT_BATCH`` addresses, so memory stays flat however long the list. It
is still all or nothing: every batch is written inside one transaction, and a
file that turns out to be unreadable halfway (bad UTF-8, a broken quote, a
killed process) rolls back to what was there before. SQLite spills the
transaction's pages to its write-ahead log, not to memory.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter.email_validation import CONTROL as _CONTROL
from newsletter.email_validation import normalize_email
from newsletter.errors import InputError
from newsletter.personalize import first_name
from newsletter.settings import Settings
from newsletter.textfiles import line_of_bad_utf8

if TYPE_CHECKING:
    from newsletter.store import DB
    from newsletter.store.subscribers import SubscriberRow

__all__ = ["ImportResult", "AddResult", "clean_name", "import_csv", "add_subscriber",
           "unsubscribe", "list_subscribers", "list_lists"]

#: Distinct addresses written per batch (a few SQL statements each).
IMPORT_BATCH = 5000
#: Invalid rows kept (with their reasons) in ``ImportResult.invalid``; all of them are counted.
INVALID_KEPT = 1000
_NAME_COLUMNS = ("email", "name", "first_name", "last_name")
#: What an attribute value may not hold: C0 and C1 controls but tab (a pasted spreadsheet cell may have one).
#: PostgreSQL's JSON cannot take a NUL at all, and no segment condition could match the others.
_ATTRIBUTE_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


@dataclass
class ImportResult:
    """What ``import_csv`` did: counts, plus the first ``INVALID_KEPT`` invalid rows as ``(line, reason)``."""

    list_name: str
    added: int = 0
    updated: int = 0
    suppressed: int = 0
    duplicates: int = 0
    invalid_count: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)
    #: Repeats of an address with another name, as ``(line, line of the first row)`` (the first ``INVALID_KEPT``).
    conflicts: list[tuple[int, int]] = field(default_factory=list)
    conflict_count: int = 0
    last_wins: bool = False  # which of two names was kept: the later row's (else the first)
    enrolled: int = 0  # enrolments in the list's welcome email and sequences (``welcome``)

    def conflict_lines(self) -> list[str]:
        """'line 7 repeats line 3's address with another name; kept line 3', one per kept conflict."""
        return [f"line {line} repeats line {first}'s address with another name; "
                f"kept line {line if self.last_wins else first}" for line, first in self.conflicts]


@dataclass
class AddResult:
    """What ``add_subscriber`` did."""

    email: str
    action: str  # 'added' or 'updated'
    status: str
    list_name: str
    enrolled: int = 0  # enrolments in the list's welcome email and sequences (``welcome``)


def _open(settings: Settings) -> DB:
    from newsletter.store import connect

    return connect(settings.newsletter_database)


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


#: A valid row: its line, the address as normalised, the name, the other non-empty columns.
_Row = tuple[int, str, str, dict[str, str]]


def _read_rows(path: Path, result: ImportResult) -> Iterator[_Row]:
    """Valid rows of the CSV at ``path``, in order; invalid ones are counted (and the first kept) in ``result``.

    ``InputError`` naming ``file:line`` if the file cannot be read as CSV.
    """
    reader = None
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, strict=True)  # a broken quote is an error, not a field that eats the file
            header = [(name or "").strip().lower() for name in next(reader, [])]
            for name in header:
                _refuse_control(name, "column name", f"{path}:1")
            columns = {name: index for index, name in enumerate(header)}  # a repeated column: the last one counts
            if "email" not in columns:
                raise InputError("no 'email' column in the header row", subject=str(path))
            extra = [(name, index) for name, index in columns.items() if name and name not in _NAME_COLUMNS]
            email_at, name_at, first_at = columns["email"], columns.get("name"), columns.get("first_name")
            name_parts = [columns[part] for part in ("first_name", "last_name") if part in columns]
            width = len(header)
            for cells in reader:
                line = reader.line_num
                if len(cells) < width:
                    cells += [""] * (width - len(cells))
                if not "".join(cells).strip():
                    continue  # a blank line
                try:
                    email = normalize_email(cells[email_at])
                    name = cells[name_at].strip() if name_at is not None else ""
                    if not name and name_parts:
                        name = " ".join(filter(None, [cells[index].strip() for index in name_parts]))
                    name = clean_name(name)
                    given = clean_name(cells[first_at]) if first_at is not None else ""
                except InputError as exc:
                    reason = f"{exc.subject}: {exc.message}" if exc.subject else exc.message
                    result.invalid_count += 1
                    if len(result.invalid) < INVALID_KEPT:
                        result.invalid.append((line, reason))
                    continue
                attributes = {key: value for key, index in extra if (value := cells[index].strip())}
                for key, value in attributes.items():
                    _refuse_control(value, f"column {key!r}", f"{path}:{line}")
                if given and given != first_name(name):  # %%first_name%% reads it ("Mary Ann" of "Mary Ann Lee")
                    attributes["first_name"] = given
                yield line, email, name, attributes
    except FileNotFoundError:
        raise InputError("file not found", subject=str(path)) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", subject=f"{path}:{line_of_bad_utf8(path)}") from None
    except csv.Error as exc:
        raise InputError(f"not valid CSV ({exc})", subject=f"{path}:{reader.line_num if reader else 1}") from None
    except OSError as exc:
        raise InputError(f"cannot read CSV: {exc.strerror or exc}", subject=str(path)) from None


def _refuse_control(text: str, what: str, where: str) -> None:
    """``InputError`` naming ``where`` (``file:line``) if ``text`` holds a control character other than tab.

    Unlike a bad address or name, which skips its row, this stops the import: the
    file is damaged (or crafted), and the transaction leaves the database as it was.
    """
    found = _ATTRIBUTE_CONTROL.search(text)
    if found:
        raise InputError(f"control character U+{ord(found.group()):04X} in {what}: remove it and import again",
                         subject=where)


def _batches(rows: Iterator[_Row], size: int,
             result: ImportResult) -> Iterator[tuple[list[tuple[str, str, str, dict[str, str]]], int]]:
    """Rows as ``(email, email_key, name, attributes)`` in batches of ``size`` distinct addresses,
    each with the count of repeats merged into it.

    A repeated address within a batch merges into its first row: the first
    non-empty name stays (the last with ``result.last_wins``), attributes merge
    (first values stay, or last ones win); a repeat with another name is kept in
    ``result.conflicts`` by line.
    """
    pending: dict[str, list] = {}  # email_key -> [email, email_key, name, attributes, line]
    repeats = 0
    last_wins = result.last_wins
    for line, email, name, attributes in rows:
        key = email.lower()
        first = pending.get(key)
        if first is None:
            pending[key] = [email, key, name, attributes, line]
            if len(pending) >= size:
                yield [tuple(row[:4]) for row in pending.values()], repeats
                pending, repeats = {}, 0
            continue
        repeats += 1
        if name and first[2] and name != first[2]:
            result.conflict_count += 1
            if len(result.conflicts) < INVALID_KEPT:
                result.conflicts.append((line, first[4]))
        if last_wins:
            first[2] = name or first[2]
            first[3].update(attributes)
        else:
            first[2] = first[2] or name
            first[3] = {**attributes, **first[3]}
    if pending or repeats:
        yield [tuple(row[:4]) for row in pending.values()], repeats


def import_csv(
    path: str | Path,
    list_name: str,
    settings: Settings,
    *,
    progress: Callable[[int, int | None], None] | None = None,
    last_wins: bool = False,
    welcome: bool = False,
) -> ImportResult:
    """Import subscribers from a CSV file with a header row into list ``list_name``.

    ``email`` is required; ``name`` (or ``first_name``/``last_name``) is
    optional; a ``first_name`` that is not the name's first word is kept as
    the attribute ``first_name`` (``%%first_name%%`` reads it); other columns
    become attributes. Invalid rows are skipped,
    counted and reported as ``(line, reason)`` (the first ``INVALID_KEPT``);
    duplicates (any case) merge into the first row (the last with ``last_wins``),
    and a repeat with another name is reported by line (``ImportResult.conflicts``);
    a suppressed address stays suppressed. The
    import is one transaction: a file that cannot be read to its end leaves
    the database as it was. ``progress(rows done, None)`` is called after
    every batch (the total is not known while streaming), and
    ``progress(total, total)`` at the end. With ``welcome``, whoever the import made a member (or
    reactivated) is enrolled in the list's welcome email and sequences, in the import's transaction;
    without it nobody is (importing a list that exists must not welcome everyone on it).
    """
    from newsletter.audience import consent
    from newsletter.store import sequences, transaction
    from newsletter.store import subscribers as store

    list_name = _check_list_name(list_name)
    path = Path(path)
    result = ImportResult(list_name=list_name, last_wins=last_wins)
    rows = _read_rows(path, result)
    first = next(rows, None)  # header and file errors surface before the database is opened
    conn = _open(settings)
    try:
        with transaction(conn):
            bulk = conn.dialect.bulk_import  # PostgreSQL: COPY, a statement a batch
            writer = None if bulk else store.BulkImport(conn, list_name)
            list_id = writer.list_id if writer else store.ensure_list(conn, list_name)
            now = writer.now if writer else store.utcnow()
            erased = consent.erased_check(conn, settings)  # audience: erased addresses stay out
            done = 0
            rows_in = itertools.chain([first] if first else [], rows)
            for number, (batch, repeats) in enumerate(_batches(rows_in, IMPORT_BATCH, result), start=1):
                kept = [row for row in batch if not erased(row[0])]
                result.suppressed += len(batch) - len(kept)
                if writer is not None:
                    counts = writer.write(kept)
                else:
                    if number & (number - 1) == 0:  # batches 1, 2, 4, ...: the tables doubled since the last look
                        conn.dialect.refresh_statistics(conn, ("subscribers", "memberships", "consents"))
                    added, updated, suppressed, duplicates = conn.dialect.import_subscribers(
                        conn, list_id, [(email, name, attributes) for email, _, name, attributes in kept], now, path.name)
                    counts = store.BatchCounts(added=added, updated=updated, suppressed=suppressed,
                                               duplicates=duplicates)
                result.added += counts.added
                result.updated += counts.updated
                result.suppressed += counts.suppressed
                result.duplicates += counts.duplicates + repeats
                done += len(batch) + repeats
                if progress is not None:
                    progress(done, None)
            if bulk:
                conn.dialect.refresh_statistics(conn, ("subscribers", "memberships", "consents"))
            consent.record_joins(conn, list_id, "import", path.name, since=now)  # audience: consent
            if welcome:
                result.enrolled = sequences.enrol_joined(conn, list_id, since=now)
    finally:
        conn.close()
    if progress is not None:
        progress(done, done)  # the end: now the total is known
    return result


def add_subscriber(email: str, list_name: str, settings: Settings, *, name: str = "",
                   welcome: bool = False) -> AddResult:
    """Add (or update) one subscriber and put them on ``list_name``; with ``welcome``, enrol them in the
    list's welcome email and sequences if this made them a member (in the same transaction)."""
    from newsletter.audience import consent
    from newsletter.store import sequences, transaction
    from newsletter.store import subscribers as store

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
            enrolled = sequences.enrol_joined(conn, list_id, since=now, subscriber_id=sid) if welcome else 0
    finally:
        conn.close()
    return AddResult(email=email, action=action, status=status if membership == "active" else membership,
                     list_name=list_name, enrolled=enrolled)


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


def list_subscribers(settings: Settings, *, list_name: str | None = None,
                     status: str | None = None) -> Iterator[SubscriberRow]:
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

    def rows() -> Iterator[SubscriberRow]:
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
