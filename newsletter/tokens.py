"""Signed, URL-safe tokens for unsubscribe, open and click links.

A token is the HMAC-SHA256 signature (``itsdangerous``) of a small JSON
payload, keyed with ``NEWSLETTER_SECRET_KEY`` and salted with its purpose, so
an unsubscribe token can never be replayed as a click token. Tokens cannot be
guessed or enumerated without the key. Verification failures all raise the
same ``InvalidToken`` with no detail: a caller must not tell an attacker which
part was wrong.
"""

from __future__ import annotations

import functools
from typing import Any

from newsletter.errors import ConfigError, NewsletterError

PURPOSES = ("unsubscribe", "open", "click", "web")
MIN_KEY_LENGTH = 16


class InvalidToken(NewsletterError):
    """The token is malformed, forged, or made for another purpose."""

    exit_code = 2

    def __init__(self) -> None:
        super().__init__("invalid token")


@functools.lru_cache(maxsize=16)  # a send signs 100,000 URLs with one key: build the serializer once
def _serializer(secret_key: str, purpose: str):
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    if len(secret_key) < MIN_KEY_LENGTH:
        raise ConfigError(
            f"must be set to a random string of at least {MIN_KEY_LENGTH} characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))')",
            subject="NEWSLETTER_SECRET_KEY",
        )
    from itsdangerous import URLSafeSerializer

    return URLSafeSerializer(secret_key, salt=f"newsletter.{purpose}")


def sign(secret_key: str, purpose: str, payload: Any) -> str:
    """Return a URL-safe token carrying ``payload`` (JSON-able) for ``purpose``."""
    return _serializer(secret_key, purpose).dumps(payload)


def verify(secret_key: str, purpose: str, token: str) -> Any:
    """Return the payload of a valid ``token`` for ``purpose``; raise ``InvalidToken`` otherwise."""
    from itsdangerous import BadData

    try:
        return _serializer(secret_key, purpose).loads(token)
    except (BadData, ValueError, TypeError, UnicodeError):
        raise InvalidToken() from None


# --- the URLs that carry tokens ---------------------------------------------
# Payloads are short JSON lists to keep URLs short; the server decodes them
# with the matching ``read_*`` function.


def unsubscribe_url(public_url: str, secret_key: str, subscriber_id: int, send_id: int = 0) -> str:
    """One-click unsubscribe URL (``/u/<token>``) for a subscriber, optionally naming the send."""
    return f"{public_url.rstrip('/')}/u/{sign(secret_key, 'unsubscribe', [subscriber_id, send_id])}"


def read_unsubscribe(secret_key: str, token: str) -> tuple[int, int]:
    """``(subscriber_id, send_id)`` from an unsubscribe token; ``InvalidToken`` if bad."""
    return _ints(verify(secret_key, "unsubscribe", token), 2)


def open_url(public_url: str, secret_key: str, send_id: int, subscriber_id: int) -> str:
    """Open-tracking pixel URL (``/o/<token>.gif``)."""
    return f"{public_url.rstrip('/')}/o/{sign(secret_key, 'open', [send_id, subscriber_id])}.gif"


def read_open(secret_key: str, token: str) -> tuple[int, int]:
    """``(send_id, subscriber_id)`` from an open token."""
    return _ints(verify(secret_key, "open", token), 2)


def click_url(public_url: str, secret_key: str, send_id: int, subscriber_id: int, link_index: int) -> str:
    """Click-tracking URL (``/c/<token>``) naming link ``link_index`` of the send's issue."""
    return f"{public_url.rstrip('/')}/c/{sign(secret_key, 'click', [send_id, subscriber_id, link_index])}"


def read_click(secret_key: str, token: str) -> tuple[int, int, int]:
    """``(send_id, subscriber_id, link_index)`` from a click token."""
    return _ints(verify(secret_key, "click", token), 3)


def _ints(payload: Any, count: int) -> tuple:
    if not (isinstance(payload, list) and len(payload) == count and all(type(v) is int for v in payload)):
        raise InvalidToken()
    return tuple(payload)
