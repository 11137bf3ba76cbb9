"""Signed, URL-safe tokens for unsubscribe, open, click, confirm and preference links.

A token is ``<payload>.<signature>``: the payload is a short JSON list in
base64url, the signature its HMAC-SHA256 (truncated to 128 bits) under a key
derived from ``NEWSLETTER_SECRET_KEY`` and the token's purpose, so an
unsubscribe token can never be replayed as a click token. Tokens cannot be
guessed or enumerated without the key. Verification failures all raise the
same ``InvalidToken`` with no detail: a caller must not tell an attacker which
part was wrong.

A send signs one URL per recipient (and one per link with tracking on), so
signing is kept cheap: the HMAC's inner and outer SHA-256 states are keyed once
per (key, purpose) and copied per token (RFC 2104 exactly, the same tag as
``hmac.new(key, body, sha256)``, which a test checks), and payloads that are
lists of integers (every payload the URLs below sign) are written without the
JSON encoder, byte for byte as it would write them.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
from typing import Any, NamedTuple

from newsletter.errors import ConfigError, NewsletterError

PURPOSES = ("unsubscribe", "open", "click", "confirm", "preferences", "canary", "admin-session")
MIN_KEY_LENGTH = 16
SIGNATURE_BYTES = 16


class InvalidToken(NewsletterError):
    """The token is malformed, forged, or made for another purpose."""

    exit_code = 2

    def __init__(self) -> None:
        super().__init__("invalid token")


_JSON = json.JSONEncoder(separators=(",", ":"))  # built once: json.dumps(separators=...) builds one per call


def require_key(secret_key: str) -> None:
    """Raise ``ConfigError`` unless ``secret_key`` is fit to sign tokens (commands call it before any work)."""
    if len(secret_key or "") < MIN_KEY_LENGTH:
        raise ConfigError(
            f"must be set to a random string of at least {MIN_KEY_LENGTH} characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))')",
            subject="NEWSLETTER_SECRET_KEY",
        )


class _Pads(NamedTuple):
    """SHA-256 states after absorbing the HMAC key XOR ipad / XOR opad (RFC 2104)."""

    inner: hashlib._Hash
    outer: hashlib._Hash


_BLOCK = hashlib.sha256().block_size
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


@functools.lru_cache(maxsize=16)
def _purpose_pads(secret_key: str, purpose: str) -> _Pads:
    """The keyed HMAC-SHA256 states for ``purpose``, to be copied per token (cheaper than re-keying)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    require_key(secret_key)
    key = hmac.new(secret_key.encode("utf-8"), b"newsletter.token." + purpose.encode(), hashlib.sha256).digest()
    block = key.ljust(_BLOCK, b"\0")  # a 32-byte key is shorter than a block: RFC 2104 pads it with zeros
    return _Pads(hashlib.sha256(block.translate(_IPAD)), hashlib.sha256(block.translate(_OPAD)))


_B64_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False).translate(_B64_URLSAFE).rstrip(b"=")


def _unb64(text: str) -> bytes:
    # validate=True: stray characters are an error, so each token has exactly one spelling.
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def _mac(pads: _Pads, body: bytes) -> bytes:
    inner = pads.inner.copy()
    inner.update(body)
    outer = pads.outer.copy()
    outer.update(inner.digest())
    return outer.digest()[:SIGNATURE_BYTES]


def _token(pads: _Pads, body: bytes) -> str:
    body = _b64(body)
    return (body + b"." + _b64(_mac(pads, body))).decode("ascii")


def _int_list(*values: int) -> bytes:
    # The URLs' payloads: an int's %d is its JSON, so the list is written directly
    # (the same bytes as the JSON encoder, a third of the time).
    return b"[" + b",".join(b"%d" % v for v in values) + b"]"


def _sign_ints(secret_key: str, purpose: str, *values: int) -> str:
    return _token(_purpose_pads(secret_key, purpose), _int_list(*values))


def sign(secret_key: str, purpose: str, payload: Any) -> str:
    """Return a URL-safe token carrying ``payload`` (JSON-able) for ``purpose``."""
    if type(payload) is list and all(type(v) is int for v in payload):
        return _sign_ints(secret_key, purpose, *payload)
    return _token(_purpose_pads(secret_key, purpose), _JSON.encode(payload).encode("utf-8"))


def verify(secret_key: str, purpose: str, token: str) -> Any:
    """Return the payload of a valid ``token`` for ``purpose``; raise ``InvalidToken`` otherwise."""
    pads = _purpose_pads(secret_key, purpose)
    body, _, signature = (token or "").rpartition(".")
    try:
        if not body or not body.isascii() or not hmac.compare_digest(_unb64(signature), _mac(pads, body.encode("ascii"))):
            raise InvalidToken()
        return json.loads(_unb64(body))
    except (binascii.Error, ValueError, UnicodeError):
        raise InvalidToken() from None


# --- the URLs that carry tokens ---------------------------------------------
# Payloads are short JSON lists to keep URLs short; the server decodes them
# with the matching ``read_*`` function.


def unsubscribe_url(public_url: str, secret_key: str, subscriber_id: int, send_id: int = 0) -> str:
    """One-click unsubscribe URL (``/u/<token>``) for a subscriber, optionally naming the send."""
    return f"{public_url.rstrip('/')}/u/{_sign_ints(secret_key, 'unsubscribe', subscriber_id, send_id)}"


def read_unsubscribe(secret_key: str, token: str) -> tuple[int, int]:
    """``(subscriber_id, send_id)`` from an unsubscribe token; ``InvalidToken`` if bad."""
    return _read_ints(verify(secret_key, "unsubscribe", token), 2)


def open_url(public_url: str, secret_key: str, send_id: int, subscriber_id: int) -> str:
    """Open-tracking pixel URL (``/o/<token>.gif``)."""
    return f"{public_url.rstrip('/')}/o/{_sign_ints(secret_key, 'open', send_id, subscriber_id)}.gif"


def read_open(secret_key: str, token: str) -> tuple[int, int]:
    """``(send_id, subscriber_id)`` from an open token."""
    return _read_ints(verify(secret_key, "open", token), 2)


def click_url(public_url: str, secret_key: str, send_id: int, subscriber_id: int, link_index: int) -> str:
    """Click-tracking URL (``/c/<token>``) naming link ``link_index`` of the send's issue."""
    return f"{public_url.rstrip('/')}/c/{_sign_ints(secret_key, 'click', send_id, subscriber_id, link_index)}"


def read_click(secret_key: str, token: str) -> tuple[int, int, int]:
    """``(send_id, subscriber_id, link_index)`` from a click token."""
    return _read_ints(verify(secret_key, "click", token), 3)


def canary_url(public_url: str, secret_key: str, send_id: int, subscriber_id: int) -> str:
    """The hidden canary link (``/k/<token>``) of a recipient's copy: only machines fetch it."""
    return f"{public_url.rstrip('/')}/k/{_sign_ints(secret_key, 'canary', send_id, subscriber_id)}"


def read_canary(secret_key: str, token: str) -> tuple[int, int]:
    """``(send_id, subscriber_id)`` from a canary token."""
    return _read_ints(verify(secret_key, "canary", token), 2)


def confirm_url(public_url: str, secret_key: str, subscriber_id: int, list_id: int, consent_id: int, expires: int) -> str:
    """Double opt-in confirm URL (``/confirm/<token>``) for one signup, valid until ``expires`` (Unix time)."""
    token = _sign_ints(secret_key, "confirm", subscriber_id, list_id, consent_id, expires)
    return f"{public_url.rstrip('/')}/confirm/{token}"


def read_confirm(secret_key: str, token: str, now: float) -> tuple[int, int, int]:
    """``(subscriber_id, list_id, consent_id)`` from a confirm token; ``InvalidToken`` if bad or expired at ``now``."""
    subscriber_id, list_id, consent_id, expires = _read_ints(verify(secret_key, "confirm", token), 4)
    if now > expires:
        raise InvalidToken()
    return subscriber_id, list_id, consent_id


def preferences_url(public_url: str, secret_key: str, subscriber_id: int) -> str:
    """The preference page URL (``/p/<token>``) of a subscriber ("manage your subscription")."""
    return f"{public_url.rstrip('/')}/p/{_sign_ints(secret_key, 'preferences', subscriber_id)}"


def read_preferences(secret_key: str, token: str) -> int:
    """``subscriber_id`` from a preferences token; ``InvalidToken`` if bad."""
    return _read_ints(verify(secret_key, "preferences", token), 1)[0]


class RecipientURLs:
    """The signed URLs of each recipient of one send, keyed once: a send makes two per recipient.

    ``unsubscribe(sid)`` and ``preferences(sid)`` are exactly ``unsubscribe_url(public_url,
    secret_key, sid, send_id)`` and ``preferences_url(public_url, secret_key, sid)``.
    """

    def __init__(self, public_url: str, secret_key: str, send_id: int) -> None:
        base = public_url.rstrip("/")
        self._unsubscribe_base, self._preferences_base = base + "/u/", base + "/p/"
        self._unsubscribe_pads = _purpose_pads(secret_key, "unsubscribe")
        self._preferences_pads = _purpose_pads(secret_key, "preferences")
        self._send_id = send_id

    def unsubscribe(self, subscriber_id: int) -> str:
        """The one-click unsubscribe URL naming this send."""
        return self._unsubscribe_base + _token(self._unsubscribe_pads, b"[%d,%d]" % (subscriber_id, self._send_id))

    def preferences(self, subscriber_id: int) -> str:
        """The preference page URL."""
        return self._preferences_base + _token(self._preferences_pads, b"[%d]" % subscriber_id)


#: The integers a URL's token may carry: a database id (or a Unix time) fits in a signed 64-bit integer.
#: A signed token with a larger one (made with the key, but not by us) is as invalid as a forged one,
#: rather than an overflow in the database driver.
_INT_RANGE = range(2**63)


def _read_ints(payload: Any, count: int) -> tuple:
    if not (isinstance(payload, list) and len(payload) == count
            and all(type(v) is int and v in _INT_RANGE for v in payload)):
        raise InvalidToken()
    return tuple(payload)
