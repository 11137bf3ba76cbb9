"""Helpers shared by the route modules: database access, plain answers, headers."""

from __future__ import annotations

import html
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse

from newsletter.errors import StoreError
from newsletter.store import connect, is_postgres

#: Sent with every page and plain answer: nothing to sniff, no token leaking
#: through a Referer header, nothing to cache.
SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

INVALID_LINK = "This link is not valid."

#: Pages run no script, load nothing and post only to this server.
PAGE_HEADERS = {
    **SAFE_HEADERS,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
}

_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:36rem;margin:3rem auto;"
    "padding:0 1rem;line-height:1.5;color:#1a1a1a;background:#fff}"
    "h1{font-size:1.6rem;line-height:1.25}"
    "input[type=email],input[type=text]{box-sizing:border-box;width:100%;font-size:1rem;padding:.6rem;"
    "border:1px solid #6b7280;border-radius:.3rem}"
    "input[type=checkbox]{width:1.2rem;height:1.2rem;vertical-align:middle}"
    "button{font-size:1.05rem;padding:.7rem 1.3rem;border:0;border-radius:.3rem;background:#1a56db;color:#fff;cursor:pointer}"
    "button.secondary{background:#fff;color:#1a56db;border:1px solid #1a56db}"
    "input:focus,button:focus{outline:3px solid #f59e0b;outline-offset:2px}"
    ".nl-hp{position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden}"
    "fieldset{border:1px solid #d1d5db;border-radius:.3rem;margin:0 0 1rem}"
)


def html_page(brand: str, title: str, body: str, status: int = 200) -> HTMLResponse:
    """A small, responsive, accessible page; every dynamic value in ``body`` must already be escaped."""
    text = (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta name=\"robots\" content=\"noindex\">"
        f"<title>{html.escape(title)} - {html.escape(brand)}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>\n"
    )
    return HTMLResponse(text, status_code=status, headers=PAGE_HEADERS)


def plain(message: str, status: int = 200) -> PlainTextResponse:
    """A short plain-text answer with the safe headers."""
    return PlainTextResponse(message + "\n", status_code=status, headers=SAFE_HEADERS)


class ThreadConnections:
    """Database connections for one app's worker threads.

    SQLite: one connection per worker thread (sqlite3 connections may not
    move between threads, and opening one per request costs a checkpoint of
    the WAL on every close). PostgreSQL: a pool (``psycopg_pool``) that the
    threads borrow from, opened at the first request. A connection that saw
    an error is dropped.
    """

    #: Most PostgreSQL connections one ``serve`` process holds (its threads wait for one beyond that).
    POOL_SIZE = 10

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._local = threading.local()
        self._pool: Any = None
        self._pool_lock = threading.Lock()

    def run(self, work: Callable[..., Any], *args: Any) -> Any:
        """``work(conn, *args)`` on a connection of this thread; database failures become ``StoreError``."""
        if is_postgres(self.path):
            return self._run_pooled(work, *args)
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path, migrate_schema=False, timeout=self.timeout)
        try:
            return work(conn, *args)
        except BaseException as exc:
            self._local.conn = None
            conn.close()
            if isinstance(exc, sqlite3.Error):  # e.g. still locked after the busy timeout
                raise StoreError(f"database error: {type(exc).__name__}") from None
            raise

    def _run_pooled(self, work: Callable[..., Any], *args: Any) -> Any:
        with self._pool_lock:
            if self._pool is None:
                from newsletter.store.postgres import Pool

                self._pool = Pool(self.path, timeout=self.timeout, size=self.POOL_SIZE)
        conn = self._pool.connection()
        try:
            return work(conn, *args)
        finally:
            conn.close()  # back to the pool, rolled back if a transaction was left open

    def close(self) -> None:
        """Close the pool (the app is shutting down); SQLite connections close with their threads."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


async def with_db(request: Request, work: Callable[..., Any], *args: Any) -> Any:
    """Run ``work(conn, *args)`` in a worker thread, so SQLite's waits never block the event loop."""
    return await run_in_threadpool(request.app.state.db.run, work, *args)
