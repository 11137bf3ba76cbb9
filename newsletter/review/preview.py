"""``newsletter preview``: a local page that shows an issue as subscribers will see it.

The page (Starlette, served by uvicorn) shows the composed email in frames
375 px and 600 px wide with a light/dark switch, the plain text, the subject
and preheader as an inbox row, and the check results. A background task
watches the issue file and the layouts with ``watchfiles`` and rebuilds; the
page polls ``/version`` and reloads itself when a new build is ready. A
compose error is shown on the page, never fatal to the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.errors import ConfigError, InputError, NewsletterError
from newsletter.settings import Settings

if TYPE_CHECKING:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from watchfiles import Change

    from newsletter.compose.model import ComposeResult

#: The widths the preview shows: a phone and a desktop mail client.
FRAMES = ((375, "Phone"), (600, "Desktop"))
#: How often the page asks whether a new build is ready.
POLL_MS = 700


@dataclass
class PreviewState:
    """The latest build of one issue, rebuilt on demand; never raises."""

    issue_path: Path
    settings: Settings
    result: ComposeResult | None = None  # the last good build
    error: str = ""  # why the latest build failed ("" when it worked)
    builds: int = 0
    built_at: str = ""
    # A per-server prefix, so a page left open across a server restart reloads too.
    boot: str = field(default_factory=lambda: secrets.token_hex(4))

    @property
    def version(self) -> str:
        """Changes with every build; the page reloads when it does."""
        return f"{self.boot}-{self.builds}"

    def rebuild(self) -> None:
        """Compose the issue again; keep the last good result if this build fails."""
        from newsletter.compose import compose_issue

        try:
            result = compose_issue(self.issue_path, self.settings)
        except NewsletterError as exc:
            self.error = str(exc)
        except Exception as exc:  # a bug in compose or a layout: show it, keep serving
            self.error = f"{type(exc).__name__}: {exc}"
        else:
            self.result, self.error = result, ""
        self.builds += 1
        self.built_at = _dt.datetime.now().strftime("%H:%M:%S")


def watched_paths(state: PreviewState) -> list[tuple[Path, bool]]:
    """``(path, recursive)`` pairs to watch: the issue's folder (only the issue
    file counts) and the layout folders compose looks in, if they exist."""
    from newsletter.compose.layout import BUILTIN_LAYOUTS  # where compose looks after NEWSLETTER_LAYOUTS

    pairs = [(state.issue_path.resolve().parent, False)]
    for layouts in dict.fromkeys((state.settings.path("newsletter_layouts").resolve(), BUILTIN_LAYOUTS.resolve())):
        if layouts.is_dir():
            pairs.append((layouts, True))
    return pairs


async def _watch(state: PreviewState, lock: asyncio.Lock, stop: asyncio.Event) -> None:
    """Rebuild whenever the issue file or anything under the layouts changes."""
    from watchfiles import DefaultFilter, awatch

    issue_name = state.issue_path.name
    default_filter = DefaultFilter()

    async def one(path: Path, recursive: bool) -> None:
        def only_issue(change: Change, changed: str) -> bool:
            return os.path.basename(changed) == issue_name

        # In the issue's folder only the issue itself matters (editors may replace it).
        accept: Callable[[Change, str], bool] = default_filter if recursive else only_issue
        async for _changes in awatch(path, watch_filter=accept, recursive=recursive, stop_event=stop):
            async with lock:
                await asyncio.to_thread(state.rebuild)

    await asyncio.gather(*(one(path, recursive) for path, recursive in watched_paths(state)))


def _sender_name(result: ComposeResult, settings: Settings) -> str:
    name, address = parseaddr(getattr(result, "sender", "") or settings.newsletter_from)
    return name or address or settings.newsletter_brand


def create_preview_app(issue_path: str | Path, settings: Settings, *, watch: bool = True) -> Starlette:
    """The Starlette app previewing the issue at ``issue_path``.

    Routes: ``/`` (the review page; ``?scheme=dark`` for dark mode),
    ``/email.html?scheme=light|dark`` (the email with sample values and the
    scheme forced), ``/email.txt``, ``/version`` (JSON build id). The first
    build runs at startup; with ``watch`` the issue and layouts are watched.
    """
    import jinja2
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    from newsletter.review.page import PAGE
    from newsletter.review.reviewer_view import SCHEMES, force_color_scheme, sample_html, sample_text

    path = Path(issue_path)
    if not path.parent.is_dir():
        raise InputError("folder not found", subject=str(path.parent))
    state = PreviewState(path, settings)
    template = jinja2.Environment(autoescape=True).from_string(PAGE)
    no_store = {"Cache-Control": "no-store"}

    def scheme_of(request: Request) -> str:
        scheme = request.query_params.get("scheme", "light")
        return scheme if scheme in SCHEMES else "light"

    async def page(request):
        result = state.result
        status = f"Build {state.builds} at {state.built_at}" + (" – failed" if state.error else "")
        html = template.render(
            title=sample_text(result.issue.subject) if result else path.name,
            subject=sample_text(result.issue.subject) if result else "",  # %%first_name%% as inboxes show it
            result=result,
            error=state.error,
            status=status,
            scheme=scheme_of(request),
            sender=_sender_name(result, settings) if result else "",
            text=sample_text(result.text) if result else "",
            frames=FRAMES,
            version=state.version,
            poll_ms=POLL_MS,
        )
        return HTMLResponse(html, headers=no_store)

    async def email_html(request):
        if state.result is None:
            return HTMLResponse("<p>The issue did not build; see the error above.</p>", status_code=503, headers=no_store)
        # Links open outside the frame so a click does not replace the preview.
        html = force_color_scheme(sample_html(state.result.html), scheme_of(request), extra_head='<base target="_blank">')
        return HTMLResponse(html, headers=no_store)

    async def email_text(request):
        if state.result is None:
            return PlainTextResponse("The issue did not build.", status_code=503, headers=no_store)
        return PlainTextResponse(sample_text(state.result.text), headers=no_store)

    async def version(request):
        return JSONResponse({"version": state.version, "ok": not state.error, "error": state.error}, headers=no_store)

    async def favicon(request):
        return Response(status_code=204)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        lock = asyncio.Lock()
        async with lock:
            await asyncio.to_thread(state.rebuild)
        stop = asyncio.Event()
        watcher = asyncio.create_task(_watch(state, lock, stop)) if watch else None
        try:
            yield
        finally:
            stop.set()
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await watcher

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/email.html", email_html),
            Route("/email.txt", email_text),
            Route("/version", version),
            Route("/favicon.ico", favicon),
        ],
        lifespan=lifespan,
    )
    app.state.preview = state
    return app


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (port 0: any free port).

    A port in use is a ``ConfigError`` naming it, rather than uvicorn's log line.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen there: {exc.strerror or exc}; try another --port", subject=f"{host}:{port}") from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """The http URL of the page served on ``sock``."""
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/"


def make_server(issue_path: str | Path, settings: Settings) -> uvicorn.Server:
    """A uvicorn ``Server`` for the preview app (not started)."""
    import uvicorn

    app = create_preview_app(issue_path, settings)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    return uvicorn.Server(config)


def serve_preview(
    issue_path: str | Path,
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    open_browser: bool = False,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the preview of ``issue_path`` until interrupted (Ctrl+C).

    ``on_ready(url)`` is called once the port is bound; with ``open_browser``
    the page opens in the default browser once the server has started.
    """
    path = Path(issue_path)
    if not path.is_file():
        raise InputError("file not found", subject=str(path))
    server = make_server(path, settings)
    sock = bind_socket(host, port)
    url = url_of(sock)
    if on_ready is not None:
        on_ready(url)
    if open_browser:
        threading.Thread(target=_open_when_started, args=(server, url), daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def _open_when_started(server: uvicorn.Server, url: str, timeout: float = 30.0) -> None:
    import time
    import webbrowser

    deadline = time.monotonic() + timeout
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    if server.started:
        webbrowser.open(url)
