"""``/subscribe/<list>`` (the signup form and its POST) and ``/confirm/<token>``
(double opt-in).

Every acceptable signup gets the same answer, whether the address is new,
pending, already subscribed, suppressed or a bot's (honeypot): nobody learns
from it who is on a list. The confirmation email goes out after the answer,
in a background task, so the answer's timing does not tell either. JSON
posts from another website are accepted only from ``NEWSLETTER_SIGNUP_ORIGINS``
(with CORS headers); plain form posts are accepted from anywhere.

``GET /confirm/<token>`` only shows a button (mail scanners follow links);
``POST`` confirms.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.background import BackgroundTask
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from newsletter import tokens
from newsletter.audience import confirmation as confirmation_mail
from newsletter.audience import signup
from newsletter.audience.consent import purge_pending_on
from newsletter.audience.forms import list_label, signup_form
from newsletter.errors import InputError, NewsletterError
from newsletter.server.common import SAFE_HEADERS, html_page, with_db
from newsletter.server.webhook import read_limited
from newsletter.settings import Settings

log = logging.getLogger("newsletter.server")

#: Largest signup body accepted (a form or JSON object with an address and a name).
MAX_BODY = 16 * 1024
#: How often ``serve`` deletes unconfirmed signups, at most (seconds).
PURGE_EVERY_S = 3600

CHECK_INBOX = (
    "Thank you. If this address can be subscribed, a confirmation link is on its way to it. "
    "Open the email and press the button to finish signing up; check your spam folder if nothing arrives."
)
EXPIRED = "This confirmation link is not valid or has expired. Sign up again to get a new one."


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _allowed_origin(request: Request, origin: str) -> bool:
    settings = request.app.state.settings
    own = {_origin_of(settings.newsletter_public_url), _origin_of(str(request.base_url))}
    return origin.lower() in own or origin.lower() in {o.lower() for o in settings.signup_origins}


def _cors(request: Request) -> dict[str, str]:
    origin = request.headers.get("origin", "")
    if origin and _allowed_origin(request, origin):
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {"Vary": "Origin"}


def _closed(settings: Settings) -> Response:
    return html_page(settings.newsletter_brand, "Signup not available",
                     "<p>This list does not accept signups.</p>", 404)


async def subscribe_page(request: Request) -> Response:
    """GET: the signup form for a list that accepts signups (404 otherwise)."""
    settings = request.app.state.settings
    try:
        info = await with_db(request, signup.open_list, request.path_params["list"])
    except signup.SignupClosed:
        return _closed(settings)
    title = list_label(info, settings)
    body = signup_form(request.url.path, info, settings)
    return html_page(settings.newsletter_brand, f"Subscribe to {title}", body)


async def subscribe_preflight(request: Request) -> Response:
    """OPTIONS: the CORS preflight of a JSON signup from another website."""
    origin = request.headers.get("origin", "")
    if not origin or not _allowed_origin(request, origin):
        return Response(status_code=403, headers={**SAFE_HEADERS, "Vary": "Origin"})
    return Response(status_code=204, headers={
        **SAFE_HEADERS, **_cors(request),
        "Access-Control-Allow-Methods": "POST",
        "Access-Control-Allow-Headers": "Content-Type",
        "Access-Control-Max-Age": "600",
    })


def _answer(request: Request, as_json: bool, message: str, status: int = 200, task: BackgroundTask | None = None) -> Response:
    settings = request.app.state.settings
    if as_json:
        key = "message" if status < 400 else "error"
        return JSONResponse({key: message}, status_code=status, headers={**SAFE_HEADERS, **_cors(request)},
                            background=task)
    title = "Check your inbox" if status < 400 else ("Too many signups" if status == 429 else "Please check the form")
    back = "" if status < 400 else '<p><a href="">Back to the form</a></p>'
    response = html_page(settings.newsletter_brand, title, f"<p>{html.escape(message)}</p>{back}", status)
    response.background = task
    return response


def _fields(body: bytes, as_json: bool) -> dict:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("the request is not UTF-8") from None
    if as_json:
        try:
            fields = json.loads(text)
        except (ValueError, RecursionError):
            raise InputError("the request is not valid JSON") from None
        if not isinstance(fields, dict):
            raise InputError("expected a JSON object")
        return fields
    return {key: values[0] for key, values in parse_qs(text, keep_blank_values=True).items()}


async def subscribe(request: Request) -> Response:
    """POST: a signup from the form (urlencoded) or JSON; the same answer for every acceptable one."""
    settings = request.app.state.settings
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("application/json", "application/x-www-form-urlencoded"):
        return Response("send the form urlencoded or as JSON\n", status_code=415, headers=SAFE_HEADERS)
    as_json = kind == "application/json"
    origin = request.headers.get("origin", "")
    if as_json and origin and not _allowed_origin(request, origin):
        return JSONResponse({"error": "signups from this website are not allowed"}, status_code=403,
                            headers={**SAFE_HEADERS, "Vary": "Origin"})
    list_name = request.path_params["list"]
    try:
        await with_db(request, signup.open_list, list_name)
    except signup.SignupClosed:
        return _answer(request, True, "this list does not accept signups", 404) if as_json else _closed(settings)
    ip = request.client.host if request.client else ""
    limits = request.app.state.signup_limits
    if not limits.allow_ip(ip):
        return _answer(request, as_json, "Too many signups from your network; please try again later.", 429)
    body = await read_limited(request, MAX_BODY, too_large=413)
    try:
        form = signup.parse_form(_fields(body, as_json))
    except InputError as exc:
        return _answer(request, as_json, str(exc), 400)
    if not form.is_bot and not limits.allow_address(form.email):
        return _answer(request, as_json, "Too many signups for this address; please try again later.", 429)
    source = f"{'json' if as_json else 'form'} {origin}".strip()
    pending = await with_db(request, functools.partial(signup.register, ip=ip, source=source), settings, list_name, form)
    task = BackgroundTask(_after_signup, request.app.state, pending)
    return _answer(request, as_json, CHECK_INBOX, 200, task)


def _after_signup(state: State, pending: signup.Confirmation | None) -> None:
    """After the answer: send the confirmation (if any), and purge old unconfirmed signups now and then."""
    settings = state.settings
    if pending is not None:
        try:
            sent = confirmation_mail.send(settings, pending, signup.confirm_url(settings, pending))
        except NewsletterError as exc:
            log.error("could not send a confirmation email: %s", exc)
            sent = False
        if not sent:
            state.db.run(signup.mail_failed, pending.consent_id)
    if time.monotonic() - state.purged_at >= PURGE_EVERY_S:
        state.purged_at = time.monotonic()
        purged = state.db.run(purge_pending_on, settings.newsletter_pending_days)
        if purged:
            log.info("deleted %d signup(s) unconfirmed for %d days", purged, settings.newsletter_pending_days)


def _expired(settings: Settings) -> Response:
    return html_page(settings.newsletter_brand, "Link not valid", f"<p>{html.escape(EXPIRED)}</p>", 404)


def _subscribed_page(settings: Settings, record: dict[str, Any]) -> Response:
    title = list_label({"title": record["list_title"]}, settings)
    if not record["subscribed"]:  # confirmed once, left since: the old link brings nobody back
        return html_page(
            settings.newsletter_brand, "Not subscribed",
            f"<p>This link was confirmed before, and the address has left <strong>{html.escape(title)}</strong> "
            "since, so it does not receive it. To receive it again, sign up again.</p>",
        )
    return html_page(
        settings.newsletter_brand, "You are subscribed",
        f"<p>Thank you: <strong>{html.escape(record['email'])}</strong> now receives "
        f"<strong>{html.escape(title)}</strong>.</p>",
    )


async def confirm_page(request: Request) -> Response:
    """GET: show the signup and a button; changes nothing (mail scanners follow links)."""
    settings = request.app.state.settings
    try:
        record = await with_db(request, signup.pending, settings, request.path_params["token"])
    except tokens.InvalidToken:
        return _expired(settings)
    if record["confirmed_at"]:
        return _subscribed_page(settings, record)
    title = list_label({"title": record["list_title"]}, settings)
    body = (
        f"<p>Receive <strong>{html.escape(title)}</strong> at <strong>{html.escape(record['email'])}</strong>?</p>"
        f"<form method=\"post\" action=\"{html.escape(request.url.path, quote=True)}\">"
        "<button type=\"submit\">Confirm my subscription</button></form>"
    )
    return html_page(settings.newsletter_brand, "Confirm your subscription", body)


async def confirm_now(request: Request) -> Response:
    """POST: confirm the signup (idempotent) and say so."""
    settings = request.app.state.settings
    try:
        record = await with_db(request, signup.confirm, settings, request.path_params["token"])
    except tokens.InvalidToken:
        return _expired(settings)
    return _subscribed_page(settings, record)
