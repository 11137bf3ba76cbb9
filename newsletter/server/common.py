"""Helpers shared by the route modules: database access, plain answers, headers."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse

from newsletter.errors import StoreError
from newsletter.store import connect

#: Sent with every page and plain answer: nothing to sniff, no token leaking
#: through a Referer header, nothing to cache.
SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

INVALID_LINK = "This link is not valid."


def plain(message: str, status: int = 200) -> PlainTextResponse:
    """A short plain-text answer with the safe headers."""
    return PlainTextResponse(message + "\n", status_code=status, headers=SAFE_HEADERS)


class ThreadConnections:
    """One SQLite connection per worker thread, for one app's database.

    sqlite3 connections may not move between threads, and opening one per
    request costs a checkpoint of the WAL on every close; a connection kept per
    worker thread avoids both. A connection that saw an error is dropped.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()

    def run(self, work: Callable[..., Any], *args: Any) -> Any:
        """``work(conn, *args)`` on this thread's connection; SQLite failures become ``StoreError``."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path, migrate_schema=False)
        try:
            return work(conn, *args)
        except BaseException as exc:
            self._local.conn = None
            conn.close()
            if isinstance(exc, sqlite3.Error):  # e.g. still locked after the busy timeout
                raise StoreError(f"database error: {type(exc).__name__}") from None
            raise


async def with_db(request: Request, work: Callable[..., Any], *args: Any) -> Any:
    """Run ``work(conn, *args)`` in a worker thread, so SQLite's waits never block the event loop."""
    return await run_in_threadpool(request.app.state.db.run, work, *args)
