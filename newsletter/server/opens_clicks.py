"""``/o/<token>.gif`` (open pixel), ``/c/<token>`` (click redirect) and ``/k/<token>`` (the
hidden canary link that only machines fetch).

Each hit is judged human, machine or unknown on the request's user agent
(``tracking.verdicts``), which is then forgotten, as is the client's address.

A click token names a send and the index of one of that send's links
(``sends.links``); the redirect goes only there, so the route can never serve
as an open redirect.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from newsletter import tokens
from newsletter.server.common import INVALID_LINK, SAFE_HEADERS, plain, with_db
from newsletter.store import DB
from newsletter.store import events as event_store
from newsletter.tracking import provider_events as events

#: The smallest transparent 1x1 GIF.
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)

_NO_CACHE = {
    **SAFE_HEADERS,
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
}


async def open_pixel(request: Request) -> Response:
    """Record an open and answer a 1x1 GIF that nobody may cache."""
    send_id, subscriber_id = tokens.read_open(request.app.state.settings.newsletter_secret_key,
                                              request.path_params["token"])
    await with_db(request, events.record_tracking, "open", send_id, subscriber_id, "", _agent(request))
    return Response(PIXEL_GIF, media_type="image/gif", headers=_NO_CACHE)


def _agent(request: Request) -> str:
    # Judged, never stored; a very long header is cut (no rule needs more).
    return request.headers.get("user-agent", "")[:512]


def _click(conn: DB, send_id: int, subscriber_id: int, index: int, agent: str) -> str | None:
    links = event_store.send_links(conn, send_id)
    if not links or not 0 <= index < len(links) or not links[index].startswith(("http://", "https://")):
        return None
    events.record_tracking(conn, "click", send_id, subscriber_id, links[index], agent)
    return links[index]


async def canary(request: Request) -> Response:
    """Record a fetch of the hidden canary link: whatever fetched it is a machine, and the clicks
    and opens of the same copy around it are judged so."""
    send_id, subscriber_id = tokens.read_canary(request.app.state.settings.newsletter_secret_key,
                                                request.path_params["token"])
    await with_db(request, events.record_tracking, "canary", send_id, subscriber_id, "", _agent(request))
    return Response(status_code=204, headers=_NO_CACHE)


async def click_redirect(request: Request) -> Response:
    """Record a click and redirect (302) to the link of the send the token names."""
    send_id, subscriber_id, index = tokens.read_click(request.app.state.settings.newsletter_secret_key,
                                                      request.path_params["token"])
    target = await with_db(request, _click, send_id, subscriber_id, index, _agent(request))
    if target is None:
        return plain(INVALID_LINK, 404)
    return RedirectResponse(target, status_code=302, headers=_NO_CACHE)
