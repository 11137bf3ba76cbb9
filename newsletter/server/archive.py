"""``/archive/``: the web archive, the same bytes ``newsletter archive build`` writes.

The archive is built in a worker thread on the first request and again only
when the database or an issue or layout file changed (``archive.freshness``).
Every answer carries an ``ETag`` (the bytes' SHA-256) and, where the content
has a time, ``Last-Modified``; a matching ``If-None-Match`` or a recent enough
``If-Modified-Since`` gets a 304.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from newsletter.server.common import plain, with_db

if TYPE_CHECKING:
    from newsletter.archive.site import Site
    from newsletter.settings import Settings
    from newsletter.store import DB

#: Archive answers may be cached but are checked every time (ETag), so a new issue shows at once.
HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "strict-origin-when-cross-origin",
           "Cache-Control": "no-cache"}


class ArchiveCache:
    """The archive last built, the freshness digest it was built at, and the issues composed for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key = ""
        self._site: Site | None = None
        self._memo: Any = None

    def get(self, conn: DB, settings: Settings) -> Site:
        """The archive as it is now: the one built before if nothing changed since, else a new one."""
        from newsletter.archive.site import ComposeMemo, build_site, freshness

        with self._lock:  # one build at a time; the others wait for it and take it
            key = freshness(conn, settings)
            if self._site is None or key != self._key:
                if self._memo is None or self._memo.settings is not settings:
                    self._memo = ComposeMemo(settings)
                self._memo.begin()
                self._site, self._key = build_site(conn, settings, self._memo), key
            return self._site


def policy(settings: Settings) -> str:
    """The Content-Security-Policy header of archive pages: their own policy, and no framing."""
    from urllib.parse import urlsplit

    from newsletter.archive.page import content_security_policy

    public = urlsplit(settings.newsletter_public_url)
    return content_security_policy(f"{public.scheme}://{public.netloc}") + "; frame-ancestors 'none'"


def _http_date(stamp: str) -> tuple[str, datetime] | None:
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return format_datetime(moment, usegmt=True), moment.replace(microsecond=0)


def _not_modified(request: Request, etag: str, modified: datetime | None) -> bool:
    asked = request.headers.get("if-none-match")
    if asked is not None:  # RFC 9110: If-None-Match wins over If-Modified-Since
        return asked.strip() == "*" or etag in {tag.strip().removeprefix("W/") for tag in asked.split(",")}
    since = request.headers.get("if-modified-since")
    if since is None or modified is None:
        return False
    try:
        return modified <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


def _file_for(path: str) -> str:
    """The archive file a URL path (after /archive/) names: '' and 'x/' are folders' index.html."""
    return path + "index.html" if path == "" or path.endswith("/") else path


async def archive(request: Request) -> Response:
    """GET ``/archive/<path>``: a file of the archive, a redirect to a folder's slash, or 404."""
    settings = request.app.state.settings
    cache: ArchiveCache = request.app.state.archive
    site: Site = await with_db(request, cache.get, settings)
    path = request.path_params.get("path", "")
    name = _file_for(path)
    if name not in site.files:
        if f"{path}/index.html" in site.files:
            return RedirectResponse(f"/archive/{path}/", status_code=308, headers=HEADERS)
        return plain("not found", 404)
    data = site.files[name]
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    headers: dict[str, Any] = {**HEADERS, "ETag": etag}
    if name.endswith(".html"):  # the pages carry the same policy in a <meta>; only a header can forbid framing
        headers["Content-Security-Policy"] = request.app.state.archive_policy
    stamp = _http_date(site.modified.get(name, ""))
    if stamp is not None:
        headers["Last-Modified"] = stamp[0]
    if name in site.unlisted:
        headers["X-Robots-Tag"] = "noindex"
    if _not_modified(request, etag, stamp[1] if stamp else None):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=site.content_type(name), headers=headers)


async def archive_root(request: Request) -> Response:
    """GET ``/archive``: to ``/archive/``."""
    return RedirectResponse("/archive/", status_code=308, headers=HEADERS)
