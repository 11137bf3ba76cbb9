"""The read-only dashboard under ``/admin``: the sends, one send, the lists, behind a sign-in.

Signed out, every page redirects (303) to ``/admin/signin``; with no token or user configured
the dashboard is off and every ``/admin`` URL answers 404. The pages change nothing: the only
write is the send page's per-domain roll-up (``store.dashboard``). Figures come from
``tracking.report``; the HTML from ``dashboard_pages``.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import parse_qs, quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from newsletter.server import dashboard_auth as auth
from newsletter.server import dashboard_pages as pages
from newsletter.server.common import SAFE_HEADERS, with_db
from newsletter.server.webhook import read_limited
from newsletter.tracking import report

log = logging.getLogger("newsletter.server")

#: Headers of every dashboard answer: the strict policy, no framing, nothing cached or referred.
HEADERS = {**SAFE_HEADERS, "Content-Security-Policy": pages.CSP, "X-Frame-Options": "DENY"}
#: A page showing a running send reloads itself this often (seconds).
LIVE_REFRESH_S = 5
MAX_FORM = 8 * 1024
_OFF = "The dashboard is off: set NEWSLETTER_ADMIN_TOKEN or NEWSLETTER_ADMIN_USERS."


def _html(request: Request, title: str, body: str, *, user: str | None, status: int = 200,
          refresh_s: int | None = None) -> HTMLResponse:
    brand = request.app.state.settings.newsletter_brand
    return HTMLResponse(pages.page(title, body, brand=brand, signed_in=user, refresh_s=refresh_s),
                        status_code=status, headers=HEADERS)


def _off(request: Request) -> Response:
    return HTMLResponse(pages.page("Not found", f"<p>{_OFF}</p>"), status_code=404, headers=HEADERS)


def _to_signin(request: Request) -> Response:
    if not auth.enabled(request.app.state.settings):
        return _off(request)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/admin/signin?next={quote(target, safe='')}", status_code=303, headers=HEADERS)


def _safe_next(value: str) -> str:
    # Only a dashboard path: never another host (no open redirect).
    if value.startswith("/admin") and not value.startswith("//") and "\\" not in value:
        return value
    return "/admin"


async def signin_page(request: Request) -> Response:
    """GET: the sign-in form (or straight to the dashboard when signed in already)."""
    settings = request.app.state.settings
    if not auth.enabled(settings):
        return _off(request)
    next_path = _safe_next(request.query_params.get("next", "/admin"))
    if auth.signed_in(request):
        return RedirectResponse(next_path, status_code=303, headers=HEADERS)
    return _html(request, "Sign in", pages.signin_body(named_users=bool(settings.admin_users), next_path=next_path),
                 user=None)


async def signin(request: Request) -> Response:
    """POST: check the name and password (rate-limited per IP address and name); set the session cookie."""
    settings = request.app.state.settings
    if not auth.enabled(settings):
        return _off(request)
    body = await read_limited(request, MAX_FORM, too_large=413)
    fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    name, password = fields.get("name", ""), fields.get("password", "")
    next_path = _safe_next(fields.get("next", "/admin"))
    ip = request.client.host if request.client else ""
    limits: auth.SigninLimits = request.app.state.signin_limits
    named = bool(settings.admin_users)
    if not limits.allowed(ip, name):
        return _html(request, "Sign in", pages.signin_body(
            named_users=named, error="Too many failed sign-ins; try again in 15 minutes.", next_path=next_path),
            user=None, status=429)
    user = auth.check_password(settings, name, password)
    if user is None:
        limits.failed(ip, name)
        return _html(request, "Sign in", pages.signin_body(named_users=named, error="Wrong name or password.",
                                                           next_path=next_path), user=None, status=401)
    response = RedirectResponse(next_path, status_code=303, headers=HEADERS)
    auth.set_session(response, request, user)
    return response


async def signout(request: Request) -> Response:
    """POST: forget the session."""
    response = RedirectResponse("/admin/signin", status_code=303, headers=HEADERS)
    auth.clear_session(response, request)
    return response


async def sends_page(request: Request) -> Response:
    """The sends, newest first, with their status and counts from the ledger (live while one runs)."""
    user = auth.signed_in(request)
    if user is None:
        return _to_signin(request)
    summaries = await with_db(request, report.send_summaries)
    live = any(s.live for s in summaries)
    return _html(request, "Sends", pages.sends_body(summaries), user=user, refresh_s=LIVE_REFRESH_S if live else None)


async def send_page(request: Request) -> Response:
    """One send in depth."""
    user = auth.signed_in(request)
    if user is None:
        return _to_signin(request)
    try:
        send_id = int(request.path_params["send_id"])
    except ValueError:
        send_id = 0
    if send_id > 0 and await with_db(request, report.needs_preparing, send_id):
        _prepare_in_background(request, send_id)
        return _html(request, "Preparing the figures",
                     "<p>This send's figures are being worked out (a first look at a large send, or many new"
                     " events, takes a little while). This page reloads itself.</p>",
                     user=user, status=202, refresh_s=LIVE_REFRESH_S)
    found = await with_db(request, report.send_report, send_id) if send_id > 0 else None
    if found is None:
        return _html(request, "No such send", '<p><a href="/admin">All sends</a></p>', user=user, status=404)
    title = f"{found.summary.slug} to {found.summary.list_name}"
    return _html(request, title, pages.send_body(found), user=user,
                 refresh_s=LIVE_REFRESH_S if found.summary.live else None)


def _prepare_in_background(request: Request, send_id: int) -> None:
    """Build the send's roll-ups in a worker thread, once at a time per send (this process)."""
    preparing: set[int] = request.app.state.preparing
    if send_id in preparing:
        return
    preparing.add(send_id)
    db = request.app.state.db

    async def work() -> None:
        try:
            await run_in_threadpool(db.run, report.send_report, send_id)
        except Exception as exc:  # logged, never raised into the event loop
            log.error("preparing send %s for the dashboard failed: %s", send_id, type(exc).__name__, exc_info=exc)
        finally:
            preparing.discard(send_id)

    task = asyncio.get_running_loop().create_task(work())
    _running.add(task)  # keep a reference until it is done
    task.add_done_callback(_running.discard)


_running: set[asyncio.Task[None]] = set()


async def lists_page(request: Request) -> Response:
    """The lists: members over time, joins and leaves per week."""
    user = auth.signed_in(request)
    if user is None:
        return _to_signin(request)
    reports = await with_db(request, report.list_reports)
    return _html(request, "Lists", pages.lists_body(reports), user=user)


def routes() -> list[Route]:
    """The dashboard's routes, for ``create_app``."""
    return [
        Route("/admin", sends_page, methods=["GET"]),
        Route("/admin/sends/{send_id}", send_page, methods=["GET"]),
        Route("/admin/lists", lists_page, methods=["GET"]),
        Route("/admin/signin", signin_page, methods=["GET"]),
        Route("/admin/signin", signin, methods=["POST"]),
        Route("/admin/signout", signout, methods=["POST"]),
    ]
