"""Helpers shared by the route modules: database access, plain answers, headers."""

from __future__ import annotations

import html
import sqlite3
import threading
from typing import Any, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse

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
