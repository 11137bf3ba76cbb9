"""``/p/<token>``: the preference page ("manage your subscription").

GET shows the subscriber's address, name and every list they are on; it changes
nothing. POST (the page's own forms) saves the name and the lists kept, or
unsubscribes from everything. One-click unsubscribe (``/u/<token>``) is
unchanged and separate.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from newsletter import tokens
from newsletter.audience import preferences
from newsletter.errors import InputError
from newsletter.server.common import html_page, with_db
from newsletter.server.webhook import read_limited
from newsletter.settings import Settings

MAX_BODY = 16 * 1024


def _e(value: str) -> str:
    return html.escape(value, quote=True)


def _render(settings: Settings, path: str, prefs: preferences.Preferences | None, note: str = "") -> Response:
    brand = settings.newsletter_brand
    if prefs is None:
        return html_page(brand, "Not subscribed", "<p>This address is not on our lists; you get no emails from us.</p>")
    notice = f'<p role="status"><strong>{_e(note)}</strong></p>' if note else ""
    who = f"<p>Your address: <strong>{_e(prefs.email)}</strong></p>"
    if not prefs.active:
        return html_page(brand, "Your subscription",
                         f"{notice}{who}<p>You are unsubscribed and get no emails from {_e(brand)}.</p>")
    if prefs.lists:
        boxes = "".join(
            f'<p><input type="checkbox" id="list-{i}" name="list" value="{_e(m["name"])}" checked> '
            f'<label for="list-{i}">{_e(m["title"])}</label></p>'
            for i, m in enumerate(prefs.lists)
        )
        lists = f"<fieldset><legend>Your lists (untick to leave)</legend>{boxes}</fieldset>"
    else:
        lists = "<p>You are not on any list.</p>"
    action = _e(path)
    body = (
        f"{notice}{who}"
        f'<form method="post" action="{action}"><input type="hidden" name="action" value="save">'
        f'<p><label for="name">Your name</label><br>'
        f'<input type="text" id="name" name="name" value="{_e(prefs.name)}" autocomplete="name" maxlength="200"></p>'
        f"{lists}<p><button type=\"submit\">Save</button></p></form>"
        f'<form method="post" action="{action}"><input type="hidden" name="action" value="leave-all">'
        '<p><button type="submit" class="secondary">Unsubscribe from everything</button></p></form>'
    )
    return html_page(brand, "Your subscription", body)


async def preferences_page(request: Request) -> Response:
    """GET: the subscriber's preferences; changes nothing."""
    settings = request.app.state.settings
    subscriber_id = tokens.read_preferences(settings.newsletter_secret_key, request.path_params["token"])
    prefs = await with_db(request, preferences.view, subscriber_id)
    return _render(settings, request.url.path, prefs)


async def preferences_save(request: Request) -> Response:
    """POST: save the name and the lists kept, or leave everything."""
    settings = request.app.state.settings
    subscriber_id = tokens.read_preferences(settings.newsletter_secret_key, request.path_params["token"])
    body = await read_limited(request, MAX_BODY, too_large=413)
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise InputError("the form is not UTF-8") from None
    action = (fields.get("action") or [""])[0]
    if action == "leave-all":
        await with_db(request, preferences.leave_everything, subscriber_id)
        prefs = await with_db(request, preferences.view, subscriber_id)
        return _render(settings, request.url.path, prefs, "You are unsubscribed from everything.")
    if action != "save":
        raise InputError("unknown action", subject="action")
    name = (fields.get("name") or [""])[0]
    prefs = await with_db(request, preferences.save, subscriber_id, name, fields.get("list", []))
    return _render(settings, request.url.path, prefs, "Saved.")
