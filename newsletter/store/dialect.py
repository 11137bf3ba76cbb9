"""Where SQLite and PostgreSQL differ: the one module of the store that knows both.

The rest of ``store/`` writes one SQL for both databases: ``?`` placeholders
(the PostgreSQL connection turns them into its own), ``INSERT ... ON
CONFLICT DO NOTHING`` and ``RETURNING id`` (SQLite 3.35+), ``COUNT(*) FILTER
(WHERE ...)`` instead of summing booleans, subqueries in FROM with an alias.
What cannot be written once asks ``conn.dialect`` for a fragment or an
operation:

- ``epoch_now``: the database's own clock, in Unix seconds (run leases are judged by it,
  never by the clock of whichever host asks);
- ``begin``, ``lock_rows`` / ``claim_rows``: how a writer serialises (SQLite's
  write lock is taken by ``BEGIN IMMEDIATE``; PostgreSQL locks rows, and
  workers skip the rows another worker holds);
- ``id_in`` / ``id_list``: a column tested against a list of ids bound as one
  parameter (``json_each`` vs ``= ANY(array)``);
- ``json_text`` / ``json_text_literal``: one key of a JSON object kept in a TEXT column;
- migrations: ``migration_sql`` picks a file's dialect sections and
  translates its DDL for PostgreSQL (types, ``WITHOUT ROWID``, the time
  default, row triggers), ``apply`` runs it, ``migration_lock`` serialises processes
  that start at once;
- introspection (``tables``, ``columns``, ``references``), used by ``db
  status``, ``db copy`` and erasure;
- erasure: ``scrub``, ``matching``, ``prepare_erasure`` and ``compact``;
- ``read_rows``, ``copy_rows``, ``after_copy``: streaming out and bulk loading for ``db copy``;
- ``import_subscribers`` (PostgreSQL's COPY path for ``subscribers import``) and
  ``refresh_statistics`` (the planner's view of a table a bulk write just grew).

Why migrations are one translated file and not one file per database: a
migration is written once, in the SQLite dialect the project always used,
and the mechanical differences are translated here, so the two schemas
cannot drift apart and a migration written by someone who never runs
PostgreSQL still applies there. The rare statement that cannot be
translated (migration 0003's table rebuild, which PostgreSQL does with
ALTER TABLE; a partial index on a JSON expression) sits in the same file
under a ``-- dialect: sqlite`` / ``-- dialect: postgresql`` heading, next to
its twin (``-- dialect: all`` ends such a section).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple, Protocol


class TextPattern(NamedTuple):
    """What erasure looks for: a regular expression that Python's ``re`` and PostgreSQL read alike, and
    an ASCII text every match holds once its ASCII letters are lowered ('' if there is none). SQLite
    looks for that text first, in C, and calls Python only for the values that hold it."""

    regex: str
    ascii_hint: str = ""


class Cursor(Protocol):
    """What the store reads from a statement (``sqlite3.Cursor`` and psycopg's cursor both fit)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Any: ...


class Database(Protocol):
    """A connection of either kind, as the store uses it."""

    @property
    def dialect(self) -> Dialect: ...

    @property
    def path(self) -> str: ...

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Any, /) -> Cursor: ...

    def close(self) -> None: ...

    @property
    def in_transaction(self) -> bool: ...


_SECTION = re.compile(r"^--\s*dialect:\s*(\w+)\s*$", re.MULTILINE)


class Dialect:
    """SQLite's way of doing the things that differ (PostgreSQL's subclass overrides them)."""

    name = "sqlite"
    #: Starts a transaction that writes (takes SQLite's write lock at once).
    begin = "BEGIN IMMEDIATE"
    #: Starts a read-only transaction that sees one snapshot (``db copy``'s source).
    begin_snapshot = "BEGIN"
    #: The database's clock now, in Unix seconds with a fraction (SQLite has 'subsec' only from 3.42).
    epoch_now = "((julianday('now') - 2440587.5) * 86400.0)"

    def lock_rows(self, alias: str = "") -> str:
        """Suffix of a SELECT that locks the rows it reads until COMMIT ('' : the write lock covers it)."""
        return ""

    def claim_rows(self, alias: str) -> str:
        """Suffix of a SELECT that locks the rows of ``alias`` it reads, skipping rows another worker holds."""
        return ""

    def id_in(self, column: str) -> str:
        """``column`` is one of the ids bound as one parameter (made by ``id_list``)."""
        return f"{column} IN (SELECT value FROM json_each(?))"

    def id_list(self, ids: Iterable[int]) -> Any:
        """The parameter for ``id_in``."""
        return json.dumps(list(ids))

    def json_text(self, column: str, key: str) -> tuple[str, list[Any]]:
        """SQL for the text of ``key`` in the JSON object in ``column`` (NULL when absent), and its parameters."""
        # The key travels as a bound JSON path, quoted so dots and blanks in it are plain characters.
        return f"CAST(json_extract({column}, ?) AS TEXT)", ['$."' + key + '"']

    def json_text_literal(self, column: str, key: str) -> str:
        """``json_text`` for a fixed key, written out (an index on the expression can then serve it)."""
        return f"CAST(json_extract({column}, '$.\"{_plain_key(key)}\"') AS TEXT)"

    def email_domain(self, column: str) -> str:
        """The lower-cased domain (after the last ``@``) of the address in ``column``."""
        return f"lower(substr({column}, length(rtrim({column}, replace({column}, '@', ''))) + 1))"

    # --- migrations ---------------------------------------------------------

    def migration_sql(self, sql: str) -> str:
        """The statements of a migration file meant for this database."""
        return _sections(sql, self.name)

    def apply(self, conn: Database, sql: str) -> None:
        """Run the statements of a migration (already picked by ``migration_sql``) in the open transaction."""
        # executescript() would commit implicitly; statements run one by one stay in our transaction.
        buffer = ""
        for line in sql.splitlines(keepends=True):
            buffer += line
            if sqlite3.complete_statement(buffer):
                if buffer.strip():
                    conn.execute(buffer.strip())
                buffer = ""
        if buffer.strip() and not all(line.strip().startswith("--") for line in buffer.strip().splitlines()):
            conn.execute(buffer.strip())

    def migration_lock(self, conn: Database) -> None:
        """Serialise migrating processes (inside the migration's transaction; ``BEGIN IMMEDIATE`` did it)."""

    def check_references(self, conn: Database) -> int:
        """How many rows reference a missing row after a migration (SQLite checks late; 0 elsewhere)."""
        return len(conn.execute("PRAGMA foreign_key_check").fetchall())

    # --- introspection ------------------------------------------------------

    def tables(self, conn: Database) -> list[str]:
        """The project's tables, by name."""
        return [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite^_%' ESCAPE '^' ORDER BY name")]

    def columns(self, conn: Database, table: str) -> list[tuple[str, bool]]:
        """``(name, may hold text)`` of each column of ``table``, in order (any SQLite column may)."""
        return [(r[1], True) for r in conn.execute(f'PRAGMA table_info("{table}")')]

    def references(self, conn: Database, table: str) -> set[str]:
        """The tables ``table`` has foreign keys to."""
        return {r[2] for r in conn.execute(f'PRAGMA foreign_key_list("{table}")')}

    def server(self, conn: Database) -> str:
        """What answers: the database engine and its version."""
        return "SQLite " + sqlite3.sqlite_version

    # --- erasure ------------------------------------------------------------

    def scrub(self, conn: Database, table: str, column: str, pattern: TextPattern, replacement: str) -> int:
        """Replace every match of ``pattern`` (see ``privacy.spellings_pattern``) by ``replacement`` in
        ``table.column``; return how many values changed."""
        found, params = self.matching(conn, f'"{column}"', pattern)
        compiled = re.compile(pattern.regex)
        conn.create_function("newsletter_scrub", 1, lambda value: compiled.sub(lambda _: replacement, value),  # type: ignore[attr-defined]
                             deterministic=True)
        return int(conn.execute(
            f'UPDATE "{table}" SET "{column}" = newsletter_scrub("{column}")'
            f' WHERE typeof("{column}") = \'text\' AND {found}', params).rowcount)

    def matching(self, conn: Database, column: str, pattern: TextPattern) -> tuple[str, list[Any]]:
        """A condition true where the text in ``column`` has a match of ``pattern``, and its parameters
        (SQLite: the ASCII hint with ``instr``, then a Python function; PostgreSQL: ``~``)."""
        compiled = re.compile(pattern.regex)
        conn.create_function("newsletter_match", 1,  # type: ignore[attr-defined]
                             lambda value: isinstance(value, str) and compiled.search(value) is not None,
                             deterministic=True)
        if not pattern.ascii_hint:
            return f"newsletter_match({column})", []
        # SQLite's lower() lowers ASCII letters only: exactly what the hint needs.
        return f"instr(lower({column}), ?) > 0 AND newsletter_match({column})", [pattern.ascii_hint]

    def prepare_erasure(self, conn: Database) -> None:
        """Before an erasure's transaction: what it frees is overwritten, not left in free pages."""
        conn.execute("PRAGMA secure_delete = ON")

    def compact(self, conn: Database, tables: Sequence[str]) -> bool:
        """Rewrite the store so no freed page keeps erased values; False if another process kept old copies.

        SQLite: VACUUM rebuilds every page, the TRUNCATE checkpoint copies the
        write-ahead log into the file and cuts it to zero bytes.
        """
        conn.execute("VACUUM")
        busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return not busy

    # --- db copy ------------------------------------------------------------

    def read_rows(self, conn: Database, sql: str) -> Iterator[Sequence[Any]]:
        """The rows of ``sql``, streamed (inside the caller's transaction), so memory stays flat."""
        yield from conn.execute(sql)

    def copy_rows(self, conn: Database, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Insert ``rows`` into ``table`` (inside the caller's transaction); return how many."""
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" * len(columns))
        count = 0

        def counted() -> Iterable[Sequence[Any]]:
            nonlocal count
            for row in rows:
                count += 1
                yield row

        conn.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', counted())
        return count

    def after_copy(self, conn: Database, tables: Sequence[str]) -> None:
        """Make generated ids continue after the copied ones (SQLite does by itself)."""

    # --- subscribers import -----------------------------------------------------

    #: Whether ``import_subscribers`` is this database's fast path (else the import writes row by row).
    bulk_import = False

    def refresh_statistics(self, conn: Database, tables: Sequence[str]) -> None:
        """Tell the planner how big ``tables`` grew during a bulk write (SQLite plans without it)."""

    def import_subscribers(self, conn: Database, list_id: int, rows: Sequence[tuple[str, str, dict[str, Any]]],
                           now: str, source: str) -> tuple[int, int, int, int]:
        """Upsert distinct ``(email, name, attributes)`` rows and put them on the list (inside the import's
        transaction), with ``upsert_subscriber``'s, ``add_membership``'s and ``record_joins``' rules (consent
        records from ``source``); return ``(added, updated, suppressed, duplicates)``, where a duplicate is
        an address an earlier batch of the same import already wrote."""
        raise NotImplementedError


class PostgresDialect(Dialect):
    """PostgreSQL's way (psycopg 3)."""

    name = "postgresql"
    begin = "BEGIN"
    begin_snapshot = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
    # clock_timestamp(), not now(): now() stands still for the whole transaction.
    epoch_now = "CAST(extract(epoch FROM clock_timestamp()) AS DOUBLE PRECISION)"
    #: Key of the advisory lock migrating processes take (any constant unlikely to clash).
    MIGRATION_LOCK = 7_318_273_391

    def lock_rows(self, alias: str = "") -> str:
        return f" FOR UPDATE OF {alias}" if alias else " FOR UPDATE"

    def claim_rows(self, alias: str) -> str:
        return f" FOR UPDATE OF {alias} SKIP LOCKED"

    def id_in(self, column: str) -> str:
        return f"{column} = ANY(?)"

    def id_list(self, ids: Iterable[int]) -> Any:
        return list(ids)

    def json_text(self, column: str, key: str) -> tuple[str, list[Any]]:
        return f"(CAST({column} AS JSONB) ->> ?)", [key]

    def json_text_literal(self, column: str, key: str) -> str:
        return f"(CAST({column} AS JSONB) ->> '{_plain_key(key)}')"

    def email_domain(self, column: str) -> str:
        return f"lower(substring({column} from '[^@]*$'))"

    # --- migrations ---------------------------------------------------------

    def migration_sql(self, sql: str) -> str:
        return translate_ddl(_sections(sql, self.name))

    def apply(self, conn: Database, sql: str) -> None:
        # One script (several statements, no parameters): PostgreSQL parses
        # dollar-quoted function bodies itself.
        if sql.strip():
            conn.execute_script(sql)  # type: ignore[attr-defined]

    def migration_lock(self, conn: Database) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(?)", (self.MIGRATION_LOCK,))

    def check_references(self, conn: Database) -> int:
        return 0  # checked by every statement

    # --- introspection ------------------------------------------------------

    def tables(self, conn: Database) -> list[str]:
        return [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name")]

    def columns(self, conn: Database, table: str) -> list[tuple[str, bool]]:
        return [(r[0], r[1] == "text") for r in conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position", (table,))]

    def references(self, conn: Database, table: str) -> set[str]:
        return {r[0] for r in conn.execute(
            "SELECT DISTINCT confrelid::regclass::text FROM pg_constraint"
            " WHERE contype = 'f' AND conrelid = CAST(? AS regclass)", (table,))}

    def server(self, conn: Database) -> str:
        return "PostgreSQL " + str(conn.execute("SHOW server_version").fetchone()[0])

    # --- erasure ------------------------------------------------------------

    def scrub(self, conn: Database, table: str, column: str, pattern: TextPattern, replacement: str) -> int:
        # The pattern spells out every case itself: PostgreSQL's own case-insensitive matching
        # follows the database's locale, and under C it folds ASCII letters only. \\ doubles in the replacement.
        return int(conn.execute(
            f'UPDATE "{table}" SET "{column}" = regexp_replace("{column}", ?, ?, \'g\') WHERE "{column}" ~ ?',
            (pattern.regex, replacement.replace("\\", "\\\\"), pattern.regex)).rowcount)

    def matching(self, conn: Database, column: str, pattern: TextPattern) -> tuple[str, list[Any]]:
        # No hint: lower() follows the locale here (under tr_TR, 'I' becomes 'ı'), and ~ runs in C anyway.
        return f"{column} ~ ?", [pattern.regex]

    def prepare_erasure(self, conn: Database) -> None:
        pass

    def compact(self, conn: Database, tables: Sequence[str]) -> bool:
        """VACUUM FULL rewrites each table and its indexes into new files; the old files are deleted.

        The server's write-ahead log and any backups keep old copies until
        they are recycled: that is PostgreSQL's, and the README says so.
        """
        for table in tables:
            conn.execute(f'VACUUM (FULL) "{table}"')
        return True

    # --- db copy ------------------------------------------------------------

    def read_rows(self, conn: Database, sql: str) -> Iterator[Sequence[Any]]:
        # A server-side cursor: the rows come in slices, not all at once.
        with conn.raw.cursor(name="newsletter_read_rows") as cursor:  # type: ignore[attr-defined]
            cursor.itersize = 5000
            cursor.execute(sql)
            yield from cursor

    def copy_rows(self, conn: Database, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        names = ", ".join(f'"{c}"' for c in columns)
        count = 0
        with conn.raw.cursor() as cursor:  # type: ignore[attr-defined]
            with cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
        return count

    def after_copy(self, conn: Database, tables: Sequence[str]) -> None:
        for table in tables:
            if "id" not in {name for name, _ in self.columns(conn, table)}:
                continue
            sequence = conn.execute("SELECT pg_get_serial_sequence(?, 'id')", (f'"{table}"',)).fetchone()
            if sequence is None or sequence[0] is None:
                continue
            conn.execute(f'SELECT setval(?, (SELECT COALESCE(MAX(id), 0) + 1 FROM "{table}"), false)', (sequence[0],))


    # --- subscribers import -----------------------------------------------------

    bulk_import = True

    def refresh_statistics(self, conn: Database, tables: Sequence[str]) -> None:
        # Inside the import's transaction too: without it the planner takes a table that just
        # grew from nothing to a million rows for empty, and joins it row by row.
        conn.execute("ANALYZE " + ", ".join(f'"{t}"' for t in tables))

    def import_subscribers(self, conn: Database, list_id: int, rows: Sequence[tuple[str, str, dict[str, Any]]],
                           now: str, source: str) -> tuple[int, int, int, int]:
        # COPY into a temporary table, then one statement: subscribers upserted (a suppressed status
        # stays, a non-empty name replaces, attributes merge), memberships added (pending becomes
        # active, one who left stays away), consent records for who joined, and the counts. The ids
        # this import has written so far are kept in a second temporary table (in the server, not
        # here), so a repeat in a later batch counts as a duplicate, as on SQLite.
        with conn.raw.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute("CREATE TEMP TABLE IF NOT EXISTS import_rows"
                           " (email TEXT, email_key TEXT, name TEXT, attributes TEXT) ON COMMIT DROP")
            cursor.execute("CREATE TEMP TABLE IF NOT EXISTS import_written (id BIGINT PRIMARY KEY) ON COMMIT DROP")
            cursor.execute("TRUNCATE import_rows")
            with cursor.copy("COPY import_rows (email, email_key, name, attributes) FROM STDIN") as copy:
                for email, name, attributes in rows:
                    copy.write_row((email, email.lower(), name, json.dumps(attributes, ensure_ascii=False)))
        row = conn.execute(_IMPORT_BATCH, (now, now, list_id, now, now, list_id, list_id, source, now, now, list_id)).fetchone()
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])


_IMPORT_BATCH = """
WITH up AS (
    INSERT INTO subscribers (email, email_key, name, attributes, status, created_at, updated_at)
    SELECT email, email_key, name, attributes, 'active', ?, ? FROM import_rows
    ON CONFLICT (email_key) DO UPDATE SET
        name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE subscribers.name END,
        attributes = CASE WHEN excluded.attributes = '{}' THEN subscribers.attributes
                     ELSE CAST(CAST(subscribers.attributes AS JSONB) || CAST(excluded.attributes AS JSONB) AS TEXT) END,
        updated_at = excluded.updated_at
    RETURNING id, xmax = 0 AS added, status
), joined AS (
    INSERT INTO memberships (list_id, subscriber_id, created_at, status, updated_at)
    SELECT ?, id, ?, 'active', ? FROM up
    ON CONFLICT (list_id, subscriber_id) DO UPDATE SET status = 'active', updated_at = excluded.updated_at
        WHERE memberships.status = 'pending'
    RETURNING subscriber_id, status
), outcome AS (
    SELECT up.id, up.added, up.status = 'active' AND COALESCE(joined.status, m.status) = 'active' AS gets_issues,
           joined.subscriber_id IS NOT NULL AS just_joined, w.id IS NOT NULL AS written_before
    FROM up LEFT JOIN joined ON joined.subscriber_id = up.id
    LEFT JOIN memberships m ON m.subscriber_id = up.id AND m.list_id = ?
    LEFT JOIN import_written w ON w.id = up.id
), written AS (
    INSERT INTO import_written (id) SELECT id FROM up ON CONFLICT DO NOTHING
), consented AS (
    INSERT INTO consents (subscriber_id, list_id, method, source, requested_at, confirmed_at)
    SELECT o.id, CAST(? AS BIGINT), 'import', ?, ?, ? FROM outcome o
    WHERE o.gets_issues AND o.just_joined AND NOT EXISTS (
        SELECT 1 FROM consents c WHERE c.subscriber_id = o.id AND c.list_id = ?
        AND c.confirmed_at IS NOT NULL AND c.left_at IS NULL)
)
SELECT COUNT(*) FILTER (WHERE added AND gets_issues),
       COUNT(*) FILTER (WHERE NOT added AND gets_issues AND NOT written_before),
       COUNT(*) FILTER (WHERE NOT gets_issues AND NOT written_before),
       COUNT(*) FILTER (WHERE written_before) FROM outcome
"""

SQLITE = Dialect()
POSTGRESQL = PostgresDialect()


def _plain_key(key: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        raise ValueError(f"not a plain key: {key!r}")
    return key


def _sections(sql: str, name: str) -> str:
    """The parts of a migration for database ``name``: shared text plus its own ``-- dialect:`` sections."""
    parts = _SECTION.split(sql)
    kept, wanted = [parts[0]], True
    for index in range(1, len(parts), 2):
        section = parts[index].lower()
        if section not in ("all", "sqlite", "postgresql"):
            raise ValueError(f"unknown dialect section {parts[index]!r}")
        wanted = section in ("all", name)
        if wanted:
            kept.append(parts[index + 1])
    return "".join(kept)


def _trigger(match: re.Match[str]) -> str:
    # SQLite runs a trigger's statements inline; PostgreSQL runs a function: the same statements.
    name, when, event, table, condition, body = match.group("name", "when", "event", "table", "condition", "body")
    guard = f" WHEN ({condition.strip()})" if condition else ""
    return (f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n{body.rstrip()}\n"
            f"    RETURN NULL;\nEND\n$$;\n"
            f"CREATE TRIGGER {name} {when} {event.strip()} ON {table} FOR EACH ROW{guard} EXECUTE FUNCTION {name}();")


#: SQLite DDL -> PostgreSQL DDL, in order. Only what the migrations use.
_DDL: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (re.compile(r"\bINTEGER\s+PRIMARY\s+KEY\b"), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),  # type names as the migrations write them: upper case
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),  # PostgreSQL's REAL is 4 bytes: Unix times need 8
    (re.compile(r"\bBLOB\b"), "BYTEA"),
    (re.compile(r"\)\s*WITHOUT\s+ROWID\b", re.I), ")"),
    (re.compile(r"strftime\(\s*'%Y-%m-%dT%H:%M:%SZ'\s*,\s*'now'\s*\)", re.I),
     "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"),
    # A row trigger, its closing END; at the start of a line.
    (re.compile(r"CREATE TRIGGER (?P<name>\w+) (?P<when>AFTER|BEFORE) (?P<event>.+?) ON (?P<table>\w+)"
                r"(?:\s+FOR EACH ROW)?(?:\s+WHEN (?P<condition>.+?))?\s+BEGIN\n(?P<body>.*?)^END;", re.S | re.M), _trigger),
]


def translate_ddl(sql: str) -> str:
    """A migration written for SQLite, in PostgreSQL's words (see the module doc): types, ``WITHOUT ROWID``,
    the time default, and row triggers (which become a PL/pgSQL function and a trigger running it)."""
    for pattern, replacement in _DDL:
        sql = pattern.sub(replacement, sql)
    return sql
