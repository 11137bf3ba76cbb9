"""Looking after a whole store: ``newsletter db status``, ``db migrate`` and ``db copy``.

``copy`` moves every table (subscribers, lists, consent records, segments,
sends, the delivery ledger and its runs, events, the suppression list, and
any table a later migration adds) from one database to another – SQLite to
PostgreSQL and back – in one transaction on the target: it refuses a target
that holds any row, reads the source in one consistent snapshot, writes the
tables parents first (PostgreSQL: ``COPY``), and commits only when every
table's count matches the source's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from newsletter.errors import InputError, StoreError
from newsletter.store import (
    DB,
    applied_migrations,
    connect,
    display_name,
    is_postgres,
    list_migrations,
    migrate,
    sqlite_path,
)

#: The table the migrations record themselves in: each database keeps its own.
MIGRATIONS_TABLE = "schema_migrations"


@dataclass
class Status:
    """What ``db status`` shows."""

    database: str  # without any password
    kind: str  # 'sqlite' or 'postgresql'
    server: str
    applied: list[tuple[int, str, str]] = field(default_factory=list)  # (number, name, applied at)
    pending: list[tuple[int, str]] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form (``db status --json``)."""
        return {
            "database": self.database, "kind": self.kind, "server": self.server,
            "applied": [{"number": n, "name": name, "applied_at": at} for n, name, at in self.applied],
            "pending": [{"number": n, "name": name} for n, name in self.pending],
            "rows": self.rows,
        }


@dataclass
class CopyResult:
    """What ``db copy`` did: rows per table, the same in both databases."""

    source: str
    target: str
    rows: dict[str, int] = field(default_factory=dict)


def _open_existing(target: str, *, migrate_schema: bool, timeout: float) -> DB:
    if not is_postgres(target) and not sqlite_path(target).exists():
        raise InputError("no database here yet (the first command that uses it makes it, or `newsletter db migrate`)",
                         subject=str(target))
    return connect(target, migrate_schema=migrate_schema, timeout=timeout)


def tables(conn: DB) -> list[str]:
    """The store's tables (the migrations' own record left out), parents before the tables that refer to them."""
    dialect = conn.dialect
    names = [t for t in dialect.tables(conn) if t != MIGRATIONS_TABLE]
    parents = {t: dialect.references(conn, t) - {t} for t in names}
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [t for t in names if t not in ordered and parents[t] <= set(ordered)]
        if not ready:
            raise StoreError(f"tables refer to each other in a circle: {sorted(set(names) - set(ordered))}")
        ordered += ready
    return ordered


def row_counts(conn: DB) -> dict[str, int]:
    """Rows in each table of the store."""
    return {t: int(conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]) for t in tables(conn)}


def status(target: str, *, timeout: float = 30.0) -> Status:
    """Which database ``target`` is, which migrations it has and lacks, and its rows per table (changes nothing)."""
    conn = _open_existing(target, migrate_schema=False, timeout=timeout)
    try:
        done = applied_migrations(conn)
        return Status(
            database=display_name(target), kind=conn.dialect.name, server=conn.dialect.server(conn),
            applied=[(n, name, at) for n, (name, at) in sorted(done.items())],
            pending=[(n, name) for n, name, _ in list_migrations() if n not in done],
            rows=row_counts(conn) if done else {},
        )
    finally:
        conn.close()


def migrate_database(target: str, *, timeout: float = 30.0) -> tuple[str, list[str]]:
    """Bring ``target`` (made if it is a new SQLite file) up to date; return its display name and the migrations applied."""
    if not is_postgres(target) and not sqlite_path(target).parent.exists():
        raise InputError("folder does not exist", subject=str(sqlite_path(target).parent))
    conn = connect(target, migrate_schema=False, timeout=timeout)
    try:
        return display_name(target), migrate(conn)
    finally:
        conn.close()


def copy(source: str, target: str, *, timeout: float = 30.0,
         progress: Callable[[int, int | None], None] | None = None) -> CopyResult:
    """Copy the whole store at ``source`` into the empty database ``target`` (see the module doc).

    Both are migrated first. ``InputError`` if the target holds any row or is
    the source itself; ``StoreError`` (target left as it was) if a count differs.
    ``progress(rows done, rows in all)`` is called as rows are written.
    """
    if display_name(source) == display_name(target) or (
            not is_postgres(source) and not is_postgres(target) and sqlite_path(source).resolve() == sqlite_path(target).resolve()):
        raise InputError("the source and the target are the same database", subject=display_name(target))
    src = _open_existing(source, migrate_schema=True, timeout=timeout)
    dst: DB | None = None
    try:
        if not is_postgres(target) and not sqlite_path(target).parent.exists():
            raise InputError("folder does not exist", subject=str(sqlite_path(target).parent))
        dst = connect(target, timeout=timeout)
        return _copy(src, dst, source, target, progress)
    finally:
        src.close()
        if dst is not None:
            dst.close()


def _copy(src: DB, dst: DB, source: str, target: str,
          progress: Callable[[int, int | None], None] | None) -> CopyResult:
    order = tables(src)
    if set(applied_migrations(src)) != set(applied_migrations(dst)) or set(order) != set(tables(dst)):
        raise StoreError("the two databases have different schemas: run both with this version first",
                         subject=display_name(target))
    held = {t: n for t, n in row_counts(dst).items() if n}
    if held:
        what = ", ".join(f"{n} in {t}" for t, n in sorted(held.items()))
        raise InputError(f"the target is not empty ({what} rows): copy only into a new, empty database",
                         subject=display_name(target))
    src.execute(src.dialect.begin_snapshot)
    dst.execute(dst.dialect.begin)
    try:
        expected = row_counts(src)
        total, done = sum(expected.values()), 0
        result = CopyResult(display_name(source), display_name(target))
        for table in order:
            columns = [name for name, _ in src.dialect.columns(src, table)]
            if {name for name, _ in dst.dialect.columns(dst, table)} != set(columns):
                raise StoreError(f"table {table} has other columns in the target", subject=display_name(target))
            names = ", ".join(f'"{c}"' for c in columns)
            order_by = " ORDER BY id" if "id" in columns else ""  # ids in order: the target's pages fill in order
            rows = src.dialect.read_rows(src, f'SELECT {names} FROM "{table}"{order_by}')
            result.rows[table] = dst.dialect.copy_rows(dst, table, columns, _counting(rows, done, total, progress))
            done += result.rows[table]
        dst.dialect.after_copy(dst, order)
        written = {t: int(dst.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]) for t in order}
        wrong = {t: (expected[t], written[t], result.rows[t]) for t in order
                 if not expected[t] == written[t] == result.rows[t]}
        if wrong:
            raise StoreError(f"row counts differ after the copy (source, target, copied): {wrong}; nothing was kept",
                             subject=display_name(target))
        dst.execute("COMMIT")
    except BaseException as exc:
        if dst.in_transaction:
            dst.execute("ROLLBACK")
        if isinstance(exc, (StoreError, InputError)) or not _driver_error(exc):
            raise
        raise StoreError(f"the copy failed, nothing was kept: {str(exc).strip().splitlines()[0]}",
                         subject=display_name(target)) from None
    finally:
        if src.in_transaction:
            src.execute("ROLLBACK")
    if progress:
        progress(total, total)
    return result


def _counting(rows: Iterable[Sequence[Any]], done: int, total: int,
              progress: Callable[[int, int | None], None] | None) -> Iterator[Sequence[Any]]:
    """``rows`` unchanged, reporting progress every 10,000."""
    for index, row in enumerate(rows, start=1):
        if progress and index % 10_000 == 0:
            progress(done + index, total)
        yield row


def _driver_error(exc: BaseException) -> bool:
    # A value one database cannot hold, a broken constraint: the database's own complaint.
    return type(exc).__module__.split(".")[0] in ("sqlite3", "psycopg")

