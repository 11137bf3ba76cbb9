"""``create_app(settings)``: the tracking server's Starlette app.

Built from settings (not globals) so tests can make one app per test. Errors
never reach a client as a traceback: bad requests get a short 4xx message,
invalid tokens one message whatever was wrong with them, and an unexpected
bug a bare 500 with the details only in the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from newsletter import tokens
from newsletter.errors import InputError, StoreError
from newsletter.server import (
    archive,
    dashboard,
    dashboard_auth,
    opens_clicks,
    preferences,
    signup,
    unsubscribe,
    webhook,
)
from newsletter.server.common import INVALID_LINK, ThreadConnections, plain, with_db
from newsletter.settings import Settings
from newsletter.store import connect

log = logging.getLogger("newsletter.server")


async def healthz(request: Request) -> Response:
    """200 ``ok`` when the database answers."""
    await with_db(request, lambda conn: conn.execute("SELECT 1").fetchone())
    return plain("ok")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # the handler registered for HTTPException
    return plain(str(exc.detail), exc.status_code)


async def _invalid_token(request: Request, exc: Exception) -> Response:
    return plain(INVALID_LINK, 404)


async def _bad_input(request: Request, exc: Exception) -> Response:
    return plain(str(exc), 400)


async def _store_error(request: Request, exc: Exception) -> Response:
    log.error("database error on %s %s: %s", request.method, _route_name(request), exc)
    return plain("temporarily unavailable, try again later", 503)


def _route_name(request: Request) -> str:
    # The route pattern, never the path: paths carry tokens.
    route = request.scope.get("route")
    return getattr(route, "path", "?")


class CatchAllMiddleware:
    """Outermost layer: a bug becomes a logged, bare 500, never a traceback to the client."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception as exc:
            route = getattr(scope.get("route"), "path", "?")
            log.error("internal error on %s %s: %s", scope.get("method"), route, type(exc).__name__, exc_info=exc)
            if not started:
                await plain("internal error", 500)(scope, receive, send)


def create_app(settings: Settings) -> Starlette:
    """The tracking server for ``settings``; migrates the database once, here.

    Raises ``ConfigError`` if ``NEWSLETTER_SECRET_KEY`` is unusable (no link
    could be verified). A missing webhook key only disables the webhook.
    """
    from newsletter.audience.consent import check_ip_mode, purge_pending_on
    from newsletter.audience.ratelimit import SignupLimits

    tokens.require_key(settings.newsletter_secret_key)  # fail at start-up, not at the first click
    check_ip_mode(settings)
    conn = connect(settings.newsletter_database, timeout=settings.newsletter_database_timeout)
    try:
        purge_pending_on(conn, settings.newsletter_pending_days)  # then again after signups, hourly
    finally:
        conn.close()
    db = ThreadConnections(settings.newsletter_database, settings.newsletter_database_timeout)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        db.close()

    app = Starlette(
        lifespan=lifespan,
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/u/{token}", unsubscribe.unsubscribe_page, methods=["GET"]),
            Route("/u/{token}", unsubscribe.unsubscribe_now, methods=["POST"]),
            Route("/o/{token}.gif", opens_clicks.open_pixel, methods=["GET"]),
            Route("/c/{token}", opens_clicks.click_redirect, methods=["GET"]),
            Route("/k/{token}", opens_clicks.canary, methods=["GET"]),
            Route("/webhooks/sendgrid", webhook.sendgrid_events, methods=["POST"]),
            Route("/subscribe/{list}", signup.subscribe_page, methods=["GET"]),
            Route("/subscribe/{list}", signup.subscribe, methods=["POST"]),
            Route("/subscribe/{list}", signup.subscribe_preflight, methods=["OPTIONS"]),
            Route("/confirm/{token}", signup.confirm_page, methods=["GET"]),
            Route("/confirm/{token}", signup.confirm_now, methods=["POST"]),
            Route("/p/{token}", preferences.preferences_page, methods=["GET"]),
            Route("/p/{token}", preferences.preferences_save, methods=["POST"]),
            Route("/archive", archive.archive_root, methods=["GET", "HEAD"]),
            Route("/archive/{path:path}", archive.archive, methods=["GET", "HEAD"]),
            *dashboard.routes(),
        ],
        exception_handlers={
            HTTPException: _http_error,
            tokens.InvalidToken: _invalid_token,
            InputError: _bad_input,
            StoreError: _store_error,
        },
    )
    app.state.settings = settings
    app.state.db = db
    app.state.verifier = webhook.load_verifier(settings.sendgrid_webhook_public_key,
                                               expected=settings.newsletter_backend == "sendgrid")
    app.state.signup_limits = SignupLimits(settings)
    app.state.signin_limits = dashboard_auth.SigninLimits(settings)
    app.state.preparing = set()  # sends whose dashboard roll-ups a background task is building
    app.state.purged_at = time.monotonic()
    app.state.archive = archive.ArchiveCache()
    app.state.archive_policy = archive.policy(settings)
    # User middleware sits inside Starlette's ServerErrorMiddleware, so a bug is
    # answered here and never re-raised to the server as a traceback.
    # The client's address from X-Forwarded-For, believed from NEWSLETTER_TRUSTED_PROXIES only (uvicorn's own
    # middleware, here rather than in the server, so that every way of serving the app gets the same rule).
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.add_middleware(CatchAllMiddleware)
    return app


def create_app_from_environment() -> Starlette:
    """``create_app`` on the settings of the environment and .env: what each ``serve --workers`` process runs."""
    from newsletter.settings import load_settings

    configure_logging()
    return create_app(load_settings())


def configure_logging() -> None:
    """Our loggers' lines on stderr (uvicorn configures only its own)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)-9s %(name)s: %(message)s")
