"""Who may see the dashboard: the admin token or named users from settings, a signed session
cookie, and a limit on failed sign-ins.

The cookie holds the user's name, when it expires and a fingerprint of the credential it was
made with, signed with ``NEWSLETTER_SECRET_KEY`` (purpose ``admin-session``): changing a
user's password, or removing the user, ends their sessions. It is ``HttpOnly``,
``SameSite=Strict``, limited to ``/admin`` and ``Secure`` whenever the server is reached over
HTTPS (the public URL is ``https://`` or the request came so).
"""

from __future__ import annotations

import hashlib
import hmac
import time

from starlette.requests import Request
from starlette.responses import Response

from newsletter import tokens
from newsletter.settings import Settings

COOKIE = "newsletter_admin"
#: A session lasts this long (a working day), then the user signs in again.
SESSION_S = 12 * 3600
#: The window of ``NEWSLETTER_ADMIN_SIGNIN_LIMIT``.
SIGNIN_WINDOW_MINUTES = 15
#: The name the admin token signs in as.
TOKEN_USER = "admin"


def credentials(settings: Settings) -> dict[str, str]:
    """``{name: sha256 hex of the password}``: the named users, and ``admin`` for the token."""
    users = dict(settings.admin_users)
    if settings.newsletter_admin_token:
        users.setdefault(TOKEN_USER, hashlib.sha256(settings.newsletter_admin_token.encode()).hexdigest())
    return users


def enabled(settings: Settings) -> bool:
    """True when a token or a user is configured (the dashboard is off otherwise)."""
    return bool(credentials(settings))


def check_password(settings: Settings, name: str, password: str) -> str | None:
    """The signed-in name if ``password`` is right for ``name`` (or is the admin token); else None.

    Compared in constant time, and a hash is computed even for an unknown name.
    """
    users = credentials(settings)
    given = hashlib.sha256(password.encode("utf-8", "replace")).hexdigest()
    name = name.strip()
    if not name or name not in users:
        token = settings.newsletter_admin_token
        if token and hmac.compare_digest(given, hashlib.sha256(token.encode()).hexdigest()):
            return TOKEN_USER
        return None
    return name if hmac.compare_digest(given, users[name]) else None


def _fingerprint(settings: Settings, name: str) -> str:
    digest = credentials(settings).get(name, "")
    return hashlib.sha256(f"{name}:{digest}".encode()).hexdigest()[:16]


def session_cookie(settings: Settings, name: str, now: float | None = None) -> str:
    """The signed session value for ``name``."""
    expires = int((now or time.time()) + SESSION_S)
    return tokens.sign(settings.newsletter_secret_key, "admin-session", [name, expires, _fingerprint(settings, name)])


def signed_in(request: Request) -> str | None:
    """The name of the user the request's session cookie is for, or None (no, forged, stale or revoked cookie)."""
    settings: Settings = request.app.state.settings
    value = request.cookies.get(COOKIE)
    if not value or not enabled(settings):
        return None
    try:
        payload = tokens.verify(settings.newsletter_secret_key, "admin-session", value)
    except tokens.InvalidToken:
        return None
    if not (isinstance(payload, list) and len(payload) == 3):
        return None
    name, expires, fingerprint = payload
    if not isinstance(name, str) or not isinstance(expires, int) or expires < time.time():
        return None
    if name not in credentials(settings) or not hmac.compare_digest(str(fingerprint), _fingerprint(settings, name)):
        return None
    return name


def secure(request: Request) -> bool:
    """True when the cookie must be ``Secure``: the server is public over HTTPS or this request came so."""
    return request.app.state.settings.newsletter_public_url.startswith("https://") or request.url.scheme == "https"


def set_session(response: Response, request: Request, name: str) -> None:
    """Give ``response`` the session cookie for ``name``."""
    response.set_cookie(COOKIE, session_cookie(request.app.state.settings, name), max_age=SESSION_S, path="/admin",
                        httponly=True, samesite="strict", secure=secure(request))


def clear_session(response: Response, request: Request) -> None:
    """Make the browser forget the session cookie."""
    response.delete_cookie(COOKIE, path="/admin", httponly=True, samesite="strict", secure=secure(request))


class SigninLimits:
    """Failed sign-ins per IP address and per name in a moving window, in this process's memory."""

    def __init__(self, settings: Settings) -> None:
        from limits import RateLimitItemPerMinute
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        limit = settings.newsletter_admin_signin_limit
        self._item = RateLimitItemPerMinute(limit, SIGNIN_WINDOW_MINUTES) if limit > 0 else None

    @staticmethod
    def _keys(ip: str, name: str) -> list[tuple[str, str]]:
        return [("signin-ip", ip or "unknown"), ("signin-name", hashlib.sha256(name.strip().lower().encode()).hexdigest())]

    def allowed(self, ip: str, name: str) -> bool:
        """False once the IP address or the name is over the limit of failures."""
        return self._item is None or all(self._limiter.test(self._item, *key) for key in self._keys(ip, name))

    def failed(self, ip: str, name: str) -> None:
        """Count one failed sign-in."""
        if self._item is not None:
            for key in self._keys(ip, name):
                self._limiter.hit(self._item, *key)
