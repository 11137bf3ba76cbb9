"""The data layer: every SQL statement of the project lives in this package.

``connect()`` opens the database named by ``NEWSLETTER_DATABASE`` – a SQLite
file (a path, or ``sqlite:///path``) or a PostgreSQL server
(``postgresql://user:password@host:5432/dbname``, see ``postgres.py``) – and
brings its schema up to date with the numbered migrations in
``migrations/NNNN_name.sql``; each applied migration is recorded in the
``schema_migrations`` table, so upgrading is just running the tool. Both
kinds of connection take the same SQL; where the two databases differ,
``dialect.py`` says how (``conn.dialect``).
``session()`` is the one way commands use a database: it opens, migrates and
closes it. Operational failures (locked, read-only, full, an I/O error, a
server that cannot be reached) become a ``StoreError`` that names the
database – never its password – and says what happened in plain words,
wherever in the code they occur.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from newsletter.errors import StoreError
from newsletter.store.dialect import SQLITE, Database

#: A connection of either kind, as the store's functions take it.
DB = Database

#: SQLite's default busy timeout is 0; a second process (``serve`` next to
#: ``send``) should wait for the lock rather than fail.
BUSY_TIMEOUT_S = 30.0

#: SQLite's messages for the failures an operator can act on, in plain words.
_OPERATIONAL = (
    ("locked", "the database is locked by another process (waited {timeout:g} s)"),
    ("busy", "the database is locked by another process (waited {timeout:g} s)"),
    ("readonly", "the database is read-only"),
    ("read-only", "the database is read-only"),
    ("disk is full", "the disk is full (or the database reached its size limit)"),
    ("disk i/o error", "disk I/O error"),
    ("unable to open", "cannot open database: the file cannot be opened"),
    ("not a database", "cannot open database: the file is not a SQLite database"),
    ("malformed", "the database file is damaged"),
)


def describe(exc: sqlite3.Error, timeout: float = BUSY_TIMEOUT_S) -> str:
    """A one-line, plain description of an SQLite failure."""
    text = str(exc).lower()
    for needle, words in _OPERATIONAL:
        if needle in text:
            return words.format(timeout=timeout)
    return f"database error: {exc}"


class Connection(sqlite3.Connection):
    """An SQLite connection whose operational failures raise ``StoreError`` naming the database.

    Programming errors (a bad statement, a constraint the code should have
    respected) stay ``sqlite3`` errors: they are bugs, not an operator's problem.
    """

    path = ""
    timeout = BUSY_TIMEOUT_S
    dialect = SQLITE

    def _fail(self, exc: sqlite3.Error) -> StoreError:
        return StoreError(describe(exc, self.timeout), subject=self.path)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.OperationalError as exc:
            raise self._fail(exc) from None

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.OperationalError as exc:
            raise self._fail(exc) from None


def list_migrations() -> list[tuple[int, str, str]]:
    """The migrations shipped with the package as ``(number, name, sql)``, in order."""
    found = []
    for entry in resources.files("newsletter.store.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name[:-4], entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if len(set(numbers)) != len(numbers):  # two files claiming one number is a packaging bug
        raise StoreError(f"duplicate migration numbers: {numbers}")
    return found


_SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL,"
    " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')))"
)


def applied_migrations(conn: DB) -> dict[int, tuple[str, str]]:
    """Migrations recorded in the database: ``{number: (name, applied_at)}``."""
    if "schema_migrations" not in conn.dialect.tables(conn):
        return {}
    return {r[0]: (r[1], r[2]) for r in conn.execute("SELECT version, name, applied_at FROM schema_migrations")}


def migrate(conn: DB) -> list[str]:
    """Apply every migration not yet recorded; return the names applied.

    Safe when several processes open a fresh database at once: the check of
    what is applied happens inside a lock that only one migrating process
    holds (SQLite's write lock, taken by ``BEGIN IMMEDIATE``; a PostgreSQL
    advisory lock), so only one process applies each migration and the
    others see its record. Each migration runs in its own transaction
    together with its record, so a failure leaves the database at the
    previous version. SQLite's foreign keys are off meanwhile, as its table
    rebuilds need.
    """
    dialect = conn.dialect
    wanted = list_migrations()
    if {n for n, _, _ in wanted} <= set(applied_migrations(conn)):  # the common case: no lock needed
        return []
    applied = []
    if dialect is SQLITE:
        conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: set before BEGIN
    try:
        for number, name, sql in wanted:
            conn.execute(dialect.begin)
            try:
                dialect.migration_lock(conn)
                conn.execute(dialect.migration_sql(_SCHEMA_MIGRATIONS))
                if number in applied_migrations(conn):
                    conn.execute("COMMIT")
                    continue
                dialect.apply(conn, dialect.migration_sql(sql))
                problems = dialect.check_references(conn)
                if problems:
                    raise StoreError(f"migration {name} would break {problems} reference(s)")
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (number, name))
                conn.execute("COMMIT")
            except BaseException as exc:
                _rollback_quietly(conn)
                if isinstance(exc, (sqlite3.Error, StoreError)):
                    why = exc.message if isinstance(exc, StoreError) else str(exc)
                    raise StoreError(f"migration {name} failed: {why}", subject=conn.path or None) from None
                raise
            applied.append(name)
    finally:
        if dialect is SQLITE:
            conn.execute("PRAGMA foreign_keys = ON")
    return applied


def _rollback_quietly(conn: DB) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except (sqlite3.Error, StoreError):
            pass  # the original error is the one to report


def _wal(conn: sqlite3.Connection, timeout: float) -> None:
    # Switching to WAL needs a moment of exclusive access and does not wait on
    # the busy handler: several processes opening a fresh file at once retry.
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except StoreError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def is_postgres(target: str | Path) -> bool:
    """True if ``target`` (``NEWSLETTER_DATABASE``) names a PostgreSQL database rather than a SQLite file."""
    from newsletter.store.postgres import is_url

    return is_url(str(target))


def display_name(target: str | Path) -> str:
    """``target`` as messages may show it: a PostgreSQL URL loses its password."""
    from newsletter.store.postgres import is_url, redact

    return redact(str(target)) if is_url(str(target)) else str(target)


def sqlite_path(target: str | Path) -> Path:
    """The file a SQLite ``target`` names: a path, or ``sqlite:///relative`` / ``sqlite:////absolute``."""
    text = str(target)
    return Path(text[len("sqlite:///"):] if text.startswith("sqlite:///") else text)


def connect(target: str | Path, *, migrate_schema: bool = True, timeout: float = BUSY_TIMEOUT_S,
            threads: bool = False) -> DB:
    """Open the database ``target`` (creating a SQLite file if needed) and migrate it.

    The connection is in autocommit mode: callers group writes with
    ``transaction(conn)`` so that each journal step is one explicit, durable
    transaction. ``threads`` allows a SQLite connection's use from several
    threads (the caller serialises it; psycopg's connections allow it anyway).
    """
    if is_postgres(target):
        from newsletter.store import postgres

        pg = postgres.connect(str(target), timeout=timeout)
        try:
            if migrate_schema:
                migrate(pg)
        except BaseException:
            pg.close()
            raise
        return pg
    path = sqlite_path(target)
    if not path.parent.exists():
        raise StoreError("folder does not exist", subject=str(path.parent))
    try:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, factory=Connection,
                               check_same_thread=not threads)
    except sqlite3.Error as exc:
        raise StoreError(describe(exc, timeout), subject=str(path)) from None
    assert isinstance(conn, Connection)
    conn.path, conn.timeout = str(path), timeout
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        _wal(conn, timeout)
        # NORMAL is durable in WAL mode against process crashes (our SIGKILL
        # case); only a power loss may lose the last commits.
        conn.execute("PRAGMA synchronous = NORMAL")
        if migrate_schema:
            migrate(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(describe(exc, timeout), subject=str(path)) from None
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def session(target: str | Path, *, timeout: float = BUSY_TIMEOUT_S, threads: bool = False) -> Iterator[DB]:
    """``with session(target) as conn:`` an open, migrated database, closed afterwards."""
    conn = connect(target, timeout=timeout, threads=threads)
    try:
        yield conn
    finally:
        conn.close()


class transaction:
    """``with transaction(conn):`` runs the block in one transaction (BEGIN ... COMMIT).

    On SQLite, BEGIN IMMEDIATE takes the write lock up front, so two
    processes cannot both read-then-write the same journal rows. On
    PostgreSQL the store locks the rows it reads to write (``dialect.lock_rows``)
    or writes with ``ON CONFLICT``.
    """

    def __init__(self, conn: DB) -> None:
        self.conn = conn

    def __enter__(self) -> DB:
        self.conn.execute(self.conn.dialect.begin)
        return self.conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
                return
            except BaseException:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        _rollback_quietly(self.conn)
