"""The data layer: every SQL statement of the project lives in this package.

``connect()`` opens the SQLite database named by ``NEWSLETTER_DATABASE`` and
brings its schema up to date with the numbered migrations in
``migrations/NNNN_name.sql``; each applied migration is recorded in the
``schema_migrations`` table, so upgrading is just running the tool. The rest
of the code talks to the functions of the modules beside this one, never to
SQL, so a PostgreSQL backend can follow by replacing this package.
"""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path

from newsletter.errors import StoreError

#: SQLite's default busy timeout is 0; a second process (``serve`` next to
#: ``send``) should wait for the lock rather than fail.
BUSY_TIMEOUT_S = 30.0


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


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet recorded; return the names applied.

    Each migration runs in its own transaction together with its record, so a
    failure leaves the database at the previous version.
    """
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')))"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    applied = []
    for number, name, sql in list_migrations():
        if number in done:
            continue
        try:
            conn.execute("BEGIN")
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (number, name))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise StoreError(f"migration {name} failed: {exc}") from None
        applied.append(name)
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


def connect(path: str | Path, *, migrate_schema: bool = True) -> sqlite3.Connection:
    """Open (creating if needed) the database at ``path`` and migrate it.

    The connection is in autocommit mode (``isolation_level=None``): callers
    group writes with ``transaction(conn)`` so that each journal step is one
    explicit, durable transaction.
    """
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise StoreError("folder does not exist", subject=str(path.parent))
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL is durable in WAL mode against process crashes (our SIGKILL
        # case); only a power loss may lose the last commits.
        conn.execute("PRAGMA synchronous = NORMAL")
        if migrate_schema:
            migrate(conn)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open database: {exc}", subject=str(path)) from None
    return conn


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

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
