"""The data layer: every SQL statement of the project lives in this package.

``connect()`` opens the SQLite database named by ``NEWSLETTER_DATABASE`` and
brings its schema up to date with the numbered migrations in
``migrations/NNNN_name.sql``; each applied migration is recorded in the
``schema_migrations`` table, so upgrading is just running the tool.
``session()`` is the one way commands use a database: it opens, migrates and
closes it. Operational failures of SQLite (locked, read-only, full, an I/O
error) become a ``StoreError`` that names the database and says what happened
in plain words, wherever in the code they occur.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

from newsletter.errors import StoreError

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

    def _fail(self, exc: sqlite3.Error) -> StoreError:
        return StoreError(describe(exc, self.timeout), subject=self.path)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:  # type: ignore[override]
        try:
            return super().execute(sql, parameters)
        except sqlite3.OperationalError as exc:
            raise self._fail(exc) from None

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:  # type: ignore[override]
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


def _applied(conn: sqlite3.Connection) -> set[int]:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").fetchone()
    return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")} if exists else set()


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet recorded; return the names applied.

    Safe when several processes open a fresh database at once: the check of
    what is applied happens inside the write lock (``BEGIN IMMEDIATE``), so
    only one process applies each migration and the others see its record.
    Each migration runs in its own transaction together with its record, so a
    failure leaves the database at the previous version. Foreign keys are off
    meanwhile, as SQLite's table rebuilds need.
    """
    wanted = list_migrations()
    if {n for n, _, _ in wanted} <= _applied(conn):  # the common case: no lock needed
        return []
    applied = []
    conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: set before BEGIN
    try:
        for number, name, sql in wanted:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                    " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')))"
                )
                if number in _applied(conn):
                    conn.execute("COMMIT")
                    continue
                for statement in _statements(sql):
                    conn.execute(statement)
                problems = conn.execute("PRAGMA foreign_key_check").fetchall()
                if problems:
                    raise StoreError(f"migration {name} would break {len(problems)} reference(s)")
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (number, name))
                conn.execute("COMMIT")
            except BaseException as exc:
                conn.execute("ROLLBACK")
                if isinstance(exc, (sqlite3.Error, StoreError)):
                    why = exc.message if isinstance(exc, StoreError) else str(exc)
                    raise StoreError(f"migration {name} failed: {why}", subject=str(getattr(conn, "path", "")) or None) from None
                raise
            applied.append(name)
    finally:
        conn.execute("PRAGMA foreign_keys = ON")
    return applied


def _statements(sql: str) -> list[str]:
    # executescript() would commit implicitly; splitting on complete statements
    # keeps the migration inside our transaction.
    statements, buffer = [], ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not buffer.strip().startswith("--"):
        statements.append(buffer.strip())
    return statements


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


def connect(path: str | Path, *, migrate_schema: bool = True, timeout: float = BUSY_TIMEOUT_S,
            threads: bool = False) -> Connection:
    """Open (creating if needed) the database at ``path`` and migrate it.

    The connection is in autocommit mode (``isolation_level=None``): callers
    group writes with ``transaction(conn)`` so that each journal step is one
    explicit, durable transaction. ``threads`` allows use from several threads
    (the caller serialises it).
    """
    path = Path(path)
    if path.parent and not path.parent.exists():
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
def session(path: str | Path, *, timeout: float = BUSY_TIMEOUT_S, threads: bool = False) -> Iterator[Connection]:
    """``with session(path) as conn:`` an open, migrated database, closed afterwards."""
    conn = connect(path, timeout=timeout, threads=threads)
    try:
        yield conn
    finally:
        conn.close()


class transaction:
    """``with transaction(conn):`` runs the block in BEGIN IMMEDIATE ... COMMIT.

    IMMEDIATE takes the write lock up front, so two processes cannot both
    read-then-write the same journal rows.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
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
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except (sqlite3.Error, StoreError):
                pass  # the original error is the one to report
