"""``/u/<token>``: the one-click unsubscribe page (RFC 8058).

GET only shows a confirm button (link scanners follow links; a GET must never
unsubscribe). POST - the mailbox provider's ``List-Unsubscribe=One-Click`` or
the page's own form - unsubscribes at once and answers 200 with a short page:
no redirect, no cookie, no login. Repeating it is harmless.
"""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse

from newsletter import tokens
from newsletter.server.common import SAFE_HEADERS, with_db
from newsletter.store import events as event_store
from newsletter.tracking import events

_PAGE_HEADERS = {
    **SAFE_HEADERS,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
}

_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:36rem;margin:3rem auto;"
    "padding:0 1rem;line-height:1.5;color:#1a1a1a;background:#fff}"
    "button{font-size:1.05rem;padding:.7rem 1.3rem;border:0;border-radius:.3rem;background:#1a56db;color:#fff;cursor:pointer}"
    "button:focus{outline:3px solid #f59e0b;outline-offset:2px}"
)


def _page(brand: str, title: str, body: str, status: int = 200) -> HTMLResponse:
    """A small accessible page; every dynamic value in ``body`` must already be escaped."""
    text = (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta name=\"robots\" content=\"noindex\">"
        f"<title>{html.escape(title)} - {html.escape(brand)}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>\n"
    )
    return HTMLResponse(text, status_code=status, headers=_PAGE_HEADERS)


async def unsubscribe_page(request: Request) -> HTMLResponse:
    """GET: show who would be unsubscribed and a confirm button; changes nothing."""
    settings = request.app.state.settings
    subscriber_id, _send_id = tokens.read_unsubscribe(settings.newsletter_secret_key, request.path_params["token"])
    contact = await with_db(request, event_store.subscriber_contact, subscriber_id)
    brand = settings.newsletter_brand
    if contact is None:
        return _page(brand, "Unsubscribed", "<p>This address is not on our list; you will get no more emails.</p>")
    email, status = contact
    who = f"<strong>{html.escape(email)}</strong>"
    if status != "active":
        return _page(brand, "Already unsubscribed", f"<p>{who} gets no more emails from {html.escape(brand)}.</p>")
    form = (
        f"<p>Stop sending {html.escape(brand)} to {who}?</p>"
        f"<form method=\"post\" action=\"{html.escape(request.url.path, quote=True)}\">"
        "<input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
        "<button type=\"submit\">Unsubscribe</button></form>"
    )
    return _page(brand, "Unsubscribe", form)


async def unsubscribe_now(request: Request) -> HTMLResponse:
    """POST: unsubscribe at once (one-click or the page's form) and say so."""
    settings = request.app.state.settings
    subscriber_id, send_id = tokens.read_unsubscribe(settings.newsletter_secret_key, request.path_params["token"])
    # The signed token is the authority; the body (``List-Unsubscribe=One-Click``)
    # is not needed to decide, so it is not parsed: odd encodings cannot fail it.
    await with_db(request, events.unsubscribe, subscriber_id, send_id)
    brand = settings.newsletter_brand
    return _page(brand, "Unsubscribed", f"<p>You will get no more emails from {html.escape(brand)}.</p>")
