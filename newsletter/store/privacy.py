"""SQL for GDPR requests: export everything held about a person, erase it,
and the suppression list of erased addresses.

Erasure keeps the subscriber's row (its id), anonymised, so the delivery
journal and the events still count the same in ``stats``; every address,
name, attribute and IP goes. ``scrub_everywhere`` then replaces any copy of
the address left in any text column of any table (an SMTP error message, a
provider's raw event), so a column added later cannot keep one by accident.
``compact`` rewrites the store so no freed page (or, on SQLite, no
write-ahead-log frame) still holds the old bytes. How each database does
these two is in ``dialect.py``.
"""

from __future__ import annotations

import json
from typing import Any

from newsletter.errors import StoreError
from newsletter.store import DB, rollups
from newsletter.store import consent as consent_store
from newsletter.store.dialect import TextPattern
from newsletter.store.subscribers import utcnow

#: What replaces the address wherever it is found after an erasure.
ERASED = "[erased]"
#: Keys of a provider's raw event kept after erasure: what ``stats`` reads, nothing personal.
RAW_EVENT_KEYS = ("event", "type", "timestamp", "sg_event_id", "sg_message_id", "send_id", "subscriber_id",
                  "sg_machine_open", "url", "category")


def is_suppressed(conn: DB, address_hash: str) -> bool:
    """True if an erased address with this keyed hash is on the suppression list."""
    return conn.execute("SELECT 1 FROM suppressions WHERE address_hash = ?", (address_hash,)).fetchone() is not None


def suppression_hashes(conn: DB) -> set[str]:
    """Every hash on the suppression list (it holds erased addresses only, so it stays small)."""
    return {r[0] for r in conn.execute("SELECT address_hash FROM suppressions")}


def suppress(conn: DB, address_hash: str, *, now: str | None = None) -> None:
    """Put an erased address's hash on the suppression list (no-op if there)."""
    conn.execute(
        "INSERT INTO suppressions (address_hash, reason, created_at) VALUES (?, 'erasure', ?) ON CONFLICT DO NOTHING",
        (address_hash, now or utcnow()),
    )


def lift_suppression(conn: DB, address_hash: str) -> None:
    """Take an address off the suppression list (its owner confirmed a new signup)."""
    conn.execute("DELETE FROM suppressions WHERE address_hash = ?", (address_hash,))


def _rows(conn: DB, sql: str, *params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sql, params)]


def export_person(conn: DB, subscriber_id: int) -> dict[str, Any]:
    """Every row held about one subscriber, by table (``SELECT *``: new columns are exported too)."""
    profile = _rows(conn, "SELECT * FROM subscribers WHERE id = ?", subscriber_id)[0]
    profile["attributes"] = json.loads(profile["attributes"] or "{}")
    by_address, params = conn.dialect.matching(conn, "email", whole(spellings_pattern(profile["email"])))
    events = _rows(conn, f"SELECT * FROM events WHERE subscriber_id = ? OR {by_address} ORDER BY id",
                   subscriber_id, *params)  # the address in any spelling, as erasure finds them
    for event in events:
        event["raw"] = json.loads(event["raw"] or "{}")
    return {
        "subscriber": profile,
        "memberships": _rows(
            conn, "SELECT l.name AS list, m.* FROM memberships m JOIN lists l ON l.id = m.list_id"
            " WHERE m.subscriber_id = ? ORDER BY l.name", subscriber_id),
        "consents": consent_store.consents_of(conn, subscriber_id),
        "deliveries": _rows(
            conn, "SELECT s.slug, s.subject, d.* FROM deliveries d JOIN sends s ON s.id = d.send_id"
            " WHERE d.subscriber_id = ? ORDER BY d.send_id", subscriber_id),
        "events": events,
    }


def erase_person(conn: DB, subscriber_id: int, address_hash: str, *, now: str | None = None) -> str:
    """Erase one subscriber's personal data, keeping ``address_hash`` on the suppression list (call inside a transaction).

    Returns the placeholder address the row now carries. Open consent records
    are closed as 'erasure' and keep no IP or name; memberships go; events
    keep their ids and counts but no address or personal raw fields.
    """
    now = now or utcnow()
    row = conn.execute("SELECT email, email_key FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()
    placeholder = f"erased-{subscriber_id}@erased.invalid"
    conn.execute(
        "UPDATE consents SET ip = '', name = '', left_how = CASE WHEN left_at IS NULL THEN 'erasure' ELSE left_how END,"
        " left_at = COALESCE(left_at, ?) WHERE subscriber_id = ?",
        (now, subscriber_id),
    )
    conn.execute("DELETE FROM memberships WHERE subscriber_id = ?", (subscriber_id,))
    pattern = spellings_pattern(row["email"])
    email_matches, params = conn.dialect.matching(conn, "email", whole(pattern))
    events = conn.execute(  # the events of the person: by id, or by the address in any spelling (xn--, any case)
        f"SELECT id, raw FROM events WHERE subscriber_id = ? OR {email_matches}", (subscriber_id, *params)
    ).fetchall()
    conn.executemany(
        # An unmatched event keeps a stand-in address: stats count recipients by address when there is no id.
        "UPDATE events SET email = CASE WHEN email = '' THEN '' ELSE ? END, raw = ? WHERE id = ?",
        [(placeholder, _scrubbed_raw(event["raw"]), event["id"]) for event in events],
    )
    conn.execute(
        "UPDATE subscribers SET email = ?, email_key = ?, name = '', attributes = '{}', status = 'unsubscribed',"
        " status_reason = 'erasure', updated_at = ? WHERE id = ?",
        (placeholder, placeholder, now, subscriber_id),
    )
    suppress(conn, address_hash, now=now)
    scrub_everywhere(conn, row["email"])
    rollups.forget_recipient(conn, subscriber_id)  # the dashboard's per-recipient facts name their domain
    return placeholder


def outbox_messages(conn: DB, subscriber_id: int) -> tuple[list[int], list[int]]:
    """Where the outbox may hold messages to a subscriber: the sends with a ledger row for them, and
    their signup (form) consent records, whose confirmation emails the outbox files by consent id."""
    sends = [r[0] for r in conn.execute("SELECT send_id FROM deliveries WHERE subscriber_id = ?", (subscriber_id,))]
    consents = [r[0] for r in conn.execute(
        "SELECT id FROM consents WHERE subscriber_id = ? AND method = 'form'", (subscriber_id,))]
    return sends, consents


def _scrubbed_raw(raw: str) -> str:
    try:
        event = json.loads(raw or "{}")
    except ValueError:
        return "{}"
    if not isinstance(event, dict):
        return "{}"
    return json.dumps({k: event[k] for k in RAW_EVENT_KEYS if k in event}, separators=(",", ":"), ensure_ascii=False)


#: Tables an erasure changes: what ``compact`` must rewrite.
ERASURE_TABLES = ("subscribers", "consents", "memberships", "events", "deliveries", "suppressions")


def scrub_everywhere(conn: DB, address: str) -> int:
    """Replace ``address`` in every spelling (``spellings``, any case) by ``ERASED`` in every text value of
    every table; return the values changed."""
    dialect = conn.dialect
    pattern = spellings_pattern(address)
    changed = 0
    for table in dialect.tables(conn):
        for column, is_text in dialect.columns(conn, table):
            if is_text:
                changed += dialect.scrub(conn, table, column, pattern, ERASED)
    return changed


def spellings(address: str) -> list[str]:
    """Every form ``address`` may be written in where it was stored or quoted: its domain in Unicode
    (``bücher.example.org``) and in IDNA (``xn--bcher-kva.example.org``, how it went out on the wire and how
    servers and providers quote it), each composed (NFC) and decomposed (NFD). Case is left to
    ``spellings_pattern``."""
    import unicodedata

    local, _, domain = address.rpartition("@")
    domains = {domain}
    try:
        import idna

        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
        domains |= {ascii_domain, idna.decode(ascii_domain)}
    except (idna.IDNAError, UnicodeError):
        pass  # a domain with no IDNA form (an IP literal, say) is written one way
    forms = {f"{local}@{d}" if local else d for d in domains}
    return sorted({unicodedata.normalize(form, text) for text in forms for form in ("NFC", "NFD")})


def spellings_pattern(address: str) -> TextPattern:
    """Every spelling of ``address`` in every case, as a regular expression that Python's ``re`` and
    PostgreSQL's regular expressions read alike: each letter is a class of its cases (``[eE]``, and
    ``(?:ß|SS|ss)`` where a case is longer), everything else a literal. The database's own case folding
    is not used: SQLite's ``lower`` folds ASCII only, and so does PostgreSQL's under the C locale.

    The hint is the longest run of ASCII characters in the local part (as composed, NFC), lower-cased:
    every spelling shares the local part, and the cases of ASCII characters are ASCII.
    """
    import re
    import unicodedata

    regex = "(?:" + "|".join(_caseless(form) for form in spellings(address)) + ")"
    local = unicodedata.normalize("NFC", address.rpartition("@")[0])
    hint = max(re.findall(r"[\x20-\x7e]+", local), key=len, default="").lower()
    return TextPattern(regex, hint if len(hint) >= 3 else "")


def whole(pattern: TextPattern) -> TextPattern:
    """``pattern`` matching a whole value, not a part of one."""
    return pattern._replace(regex=f"^{pattern.regex}$")


def _caseless(text: str) -> str:
    parts = []
    for char in text:
        cases = sorted({char, char.lower(), char.upper(), char.casefold(), char.title()}, key=lambda c: (-len(c), c))
        if len(cases) == 1:
            parts.append(char if char.isalnum() or not char.isascii() else "\\" + char)  # ASCII punctuation escaped
        elif all(len(case) == 1 for case in cases):
            parts.append("[" + "".join(cases) + "]")
        else:
            parts.append("(?:" + "|".join(cases) + ")")
    return "".join(parts)


def prepare(conn: DB) -> None:
    """Before an erasure: make what it frees be overwritten (outside its transaction)."""
    conn.dialect.prepare_erasure(conn)


def compact(conn: DB) -> None:
    """Rewrite the store so no old copy of erased data stays on disk (see ``Dialect.compact``).

    Must run outside a transaction; ``StoreError`` if another process kept
    SQLite's write-ahead log from being emptied.
    """
    if not conn.dialect.compact(conn, ERASURE_TABLES):
        raise StoreError("the erasure is done, but another process is reading the database, so the write-ahead log "
                         "still holds old pages: stop `newsletter serve` and run the erasure again")
