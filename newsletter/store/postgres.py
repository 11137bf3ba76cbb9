"""PostgreSQL connections (psycopg 3) that the store uses exactly like its SQLite ones.

``connect(url)`` gives a ``PostgresConnection``: ``execute`` takes the
store's ``?`` placeholders, rows answer to ``row[0]`` and ``row["name"]``
like ``sqlite3.Row``, ``BEGIN`` / ``COMMIT`` are the store's own (the
connection is in autocommit mode, like the SQLite one), and operational
failures become a ``StoreError`` that names the database without its
password. ``Pool`` holds several connections for a process that serves
requests from several threads (``serve``). psycopg is imported only here,
when a PostgreSQL URL is used.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from newsletter.errors import ConfigError, StoreError
from newsletter.store.dialect import POSTGRESQL

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

SCHEMES = ("postgresql://", "postgres://")

#: SQLSTATE classes and codes an operator can act on, in plain words.
_OPERATIONAL = (
    ("55P03", "the database is locked by another process (waited {timeout:g} s)"),
    ("40P01", "two processes wanted the same rows at once (deadlock): run it again"),
    ("40001", "two processes changed the same rows at once: run it again"),
    ("53100", "the database server's disk is full"),
    ("53", "the database server is out of resources (memory, connections or disk)"),
    ("25006", "the database is read-only"),
    ("57P", "the database server shut down or restarted"),
    ("08", "lost the connection to the database server"),
    ("28", "the database server refused the login (user name or password)"),
    ("3D000", "no such database on the server (create it first, e.g. with createdb)"),
)
#: Connection failures carry no SQLSTATE: libpq's words, matched.
_CONNECTING = (
    ("password authentication failed", "28"),
    ("no password supplied", "28"),
    ("does not exist", "3D000"),
)


def is_url(target: str) -> bool:
    """True if ``target`` names a PostgreSQL database (``postgresql://`` or ``postgres://``)."""
    return str(target).startswith(SCHEMES)


def redact(url: str) -> str:
    """``url`` with its password (and any ``password=`` parameter) replaced by ``***``.

    Plain text rules, not a URL parser: a malformed URL must lose its password too.
    """
    text = re.sub(r"(?i)^([a-z][a-z0-9+.-]*://[^:/@?#]*:).*@", r"\1***@", url)
    return re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", text)


def _secrets_of(url: str) -> list[str]:
    """The password in ``url``, as written and percent-decoded (what a message must never contain)."""
    found = re.findall(r"(?i)^[a-z][a-z0-9+.-]*://[^:/@?#]*:(.*)@", url) + re.findall(r"(?i)[?&]password=([^&#]*)", url)
    return sorted({form for secret in found if secret for form in (secret, unquote(secret))}, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` (a driver's message) without ``url``'s password: libpq repeats bad parts of a URL."""
    text = text.replace(url, redact(url))
    for secret in _secrets_of(url):
        text = text.replace(secret, "***")
    return text


def describe(exc: BaseException, timeout: float) -> str:
    """A one-line, plain description of a psycopg failure (never a password: libpq does not repeat it)."""
    sqlstate = getattr(exc, "sqlstate", None) or ""
    text = str(exc)
    if not sqlstate:
        sqlstate = next((code for needle, code in _CONNECTING if needle in text), "")
    for code, words in _OPERATIONAL:
        if sqlstate.startswith(code):
            return words.format(timeout=timeout)
    text = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if not sqlstate:  # libpq's "connection failed: connection to server at ... failed: <why>"
        return f"cannot reach the database server: {text.rsplit('failed: ', 1)[-1].strip()}"
    return f"database error: {text}"


class Row(tuple[Any, ...]):
    """A result row: a tuple that also answers ``row["column"]``, ``keys()`` and ``dict(row)``."""

    __slots__ = ()
    _index: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        """The column names, in order."""
        return list(self._index)


@lru_cache(maxsize=512)
def _row_class(names: tuple[str, ...]) -> type[Row]:
    return type("Row", (Row,), {"__slots__": (), "_index": {n: i for i, n in enumerate(names)}})


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], Any]:
    description = cursor.description
    if description is None:
        return tuple
    row_class = _row_class(tuple(d.name for d in description))
    return row_class


@lru_cache(maxsize=2048)
def placeholders(sql: str) -> str:
    """The store's SQL in psycopg's terms: ``?`` becomes ``%s`` and a literal ``%`` becomes ``%%``.

    A ``?`` inside a quoted literal or name stays as it is.
    """
    out, quote = [], ""
    for char in sql:
        if char == "%":
            out.append("%%")
            continue
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "?":
            out.append("%s")
            continue
        out.append(char)
    return "".join(out)


class PostgresConnection:
    """One psycopg connection, with the interface of the store's SQLite connection."""

    dialect = POSTGRESQL

    def __init__(self, raw: psycopg.Connection[Any], path: str, timeout: float,
                 on_close: Callable[[psycopg.Connection[Any]], None] | None = None) -> None:
        self.raw = raw
        self.path = path  # the URL without its password: what messages name
        self.timeout = timeout
        self._on_close = on_close

    def _fail(self, exc: BaseException) -> StoreError:
        return StoreError(describe(exc, self.timeout), subject=self.path)

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        """Run one statement with ``?`` parameters; returns the cursor (``fetchone``, ``rowcount``, iteration)."""
        import psycopg

        try:
            return self.raw.execute(placeholders(sql), tuple(parameters))
        except psycopg.OperationalError as exc:
            raise self._fail(exc) from None
        except psycopg.InterfaceError as exc:
            raise self._fail(exc) from None

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any:
        """Run one statement for each parameter tuple (pipelined); ``rowcount`` is the total."""
        import psycopg

        cursor = self.raw.cursor()
        try:
            cursor.executemany(placeholders(sql), parameters)
        except psycopg.OperationalError as exc:
            raise self._fail(exc) from None
        return cursor

    def execute_script(self, sql: str) -> None:
        """Run several statements without parameters (a migration)."""
        import psycopg

        try:
            self.raw.execute(sql.encode("utf-8"))  # bytes: no placeholder parsing
        except psycopg.Error as exc:  # a migration's own error is reported, not raised as a bug
            raise self._fail(exc) from None

    @property
    def in_transaction(self) -> bool:
        """True between BEGIN and COMMIT/ROLLBACK."""
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def close(self) -> None:
        """Close the connection (or give it back to its pool)."""
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close(self.raw)
        elif not self.raw.closed:
            self.raw.close()


def _settings(timeout: float) -> dict[str, Any]:
    # Waiting for a lock gives up after ``timeout`` like SQLite's busy timeout;
    # the application name shows in pg_stat_activity.
    return {
        "autocommit": True,
        "row_factory": _row_factory,
        "connect_timeout": max(1, int(timeout)),
        "options": f"-c lock_timeout={int(timeout * 1000)}",
        "application_name": "newsletter",
    }


def check_url(url: str) -> None:
    """``ConfigError`` naming ``NEWSLETTER_DATABASE`` (without the password) if the URL cannot work."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # reading it raises ValueError for a port that is not a number or out of range
    except ValueError:
        raise ConfigError(f"not a valid PostgreSQL URL: {redact(url)}", subject="NEWSLETTER_DATABASE") from None
    if not parts.hostname and "host=" not in parts.query:
        raise ConfigError(f"no host in the PostgreSQL URL: {redact(url)}", subject="NEWSLETTER_DATABASE")
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        raise ConfigError("a PostgreSQL URL needs psycopg: pip install 'markdown-newsletter[postgresql]'",
                          subject="NEWSLETTER_DATABASE") from None
    try:
        conninfo_to_dict(url)  # libpq's own reading, before anything (a pool's log) can repeat a bad part
    except Exception as exc:
        raise ConfigError(f"not a valid PostgreSQL URL ({scrub(str(exc).strip(), url)}): {redact(url)}",
                          subject="NEWSLETTER_DATABASE") from None


def connect(url: str, *, timeout: float) -> PostgresConnection:
    """A new connection to the database at ``url``; ``StoreError`` (password-free) if that fails."""
    check_url(url)
    import psycopg

    try:
        raw = psycopg.connect(url, **_settings(timeout))
    except psycopg.Error as exc:
        raise StoreError(scrub(describe(exc, timeout), url), subject=redact(url)) from None
    return PostgresConnection(raw, redact(url), timeout)


class Pool:
    """Several connections to one database for a process that works from several threads (``serve``)."""

    def __init__(self, url: str, *, timeout: float, size: int) -> None:
        check_url(url)
        from psycopg_pool import ConnectionPool

        self.url, self.timeout = url, timeout
        self._pool: psycopg_pool.ConnectionPool[Any] = ConnectionPool(
            url, min_size=1, max_size=size, timeout=timeout, open=True, name="newsletter", kwargs=_settings(timeout),
        )

    def connection(self) -> PostgresConnection:
        """A connection from the pool; ``close()`` gives it back (rolled back if a transaction was left open)."""
        import psycopg_pool

        try:
            raw = self._pool.getconn()
        except psycopg_pool.PoolTimeout:
            raise StoreError(f"no database connection free within {self.timeout:g} s",
                             subject=redact(self.url)) from None
        return PostgresConnection(raw, redact(self.url), self.timeout, on_close=self._pool.putconn)

    def close(self) -> None:
        """Close every connection."""
        self._pool.close()

