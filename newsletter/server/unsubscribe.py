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
from newsletter.server.common import html_page, with_db
from newsletter.store import events as event_store
from newsletter.tracking import provider_events as events


async def unsubscribe_page(request: Request) -> HTMLResponse:
    """GET: show who would be unsubscribed and a confirm button; changes nothing."""
    settings = request.app.state.settings
    subscriber_id, _send_id = tokens.read_unsubscribe(settings.newsletter_secret_key, request.path_params["token"])
    contact = await with_db(request, event_store.subscriber_contact, subscriber_id)
    brand = settings.newsletter_brand
    if contact is None:
        return html_page(brand, "Unsubscribed", "<p>This address is not on our list; you will get no more emails.</p>")
    email, status = contact
    who = f"<strong>{html.escape(email)}</strong>"
    if status != "active":
        return html_page(brand, "Already unsubscribed", f"<p>{who} gets no more emails from {html.escape(brand)}.</p>")
    form = (
        f"<p>Stop sending {html.escape(brand)} to {who}?</p>"
        f"<form method=\"post\" action=\"{html.escape(request.url.path, quote=True)}\">"
        "<input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
        "<button type=\"submit\">Unsubscribe</button></form>"
        # Someone who only wants fewer lists or a corrected name can go there instead.
        f"<p><a href=\"{html.escape(tokens.preferences_url('', settings.newsletter_secret_key, subscriber_id))}\">"
        "Manage your subscription instead</a></p>"
    )
    return html_page(brand, "Unsubscribe", form)


async def unsubscribe_now(request: Request) -> HTMLResponse:
    """POST: unsubscribe at once (one-click or the page's form) and say so."""
    settings = request.app.state.settings
    subscriber_id, send_id = tokens.read_unsubscribe(settings.newsletter_secret_key, request.path_params["token"])
    # The signed token is the authority; the body (``List-Unsubscribe=One-Click``)
    # is not needed to decide, so it is not parsed: odd encodings cannot fail it.
    await with_db(request, events.unsubscribe, subscriber_id, send_id)
    brand = settings.newsletter_brand
    return html_page(brand, "Unsubscribed", f"<p>You will get no more emails from {html.escape(brand)}.</p>")
