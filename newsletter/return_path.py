"""VERP return paths: an envelope sender that names the ledger row it was sent for.

With ``NEWSLETTER_BOUNCE_ADDRESS=bounces@news.example.org`` each SMTP message
goes out with ``MAIL FROM:<bounces+<token>@news.example.org>``. A bounce comes
back to that address, so the bounce itself says which (send, subscriber,
attempt) failed, whatever the remote server wrote in its report.

The token is the three numbers as unsigned LEB128 varints followed by an
80-bit HMAC-SHA256 tag (key derived from ``NEWSLETTER_SECRET_KEY`` for this
purpose alone), in lower-case base32 without padding: relays may lower-case
local parts, and base32 survives that; 26 characters for typical ids, well
under the 64 a local part may hold. Nobody without the key can make a token
that names another subscriber, so a forged "bounce" cannot suppress anyone.

A foundation module (beside ``tokens``): the SMTP backend makes addresses, the
bounce reader in ``tracking`` reads them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

from newsletter.tokens import require_key

#: Bytes of HMAC-SHA256 kept in a token (80 bits).
TAG_BYTES = 10
#: What separates the bounce address's local part from the token (Postfix's and Exim's usual).
DELIMITER = "+"


def _key(secret_key: str) -> bytes:
    require_key(secret_key)
    return hmac.new(secret_key.encode("utf-8"), b"newsletter.token.bounce", hashlib.sha256).digest()


def _varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("VERP numbers must not be negative")
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varints(data: bytes) -> list[int] | None:
    numbers: list[int] = []
    value = shift = 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
        if shift > 63:
            return None
        if not byte & 0x80:
            numbers.append(value)
            value = shift = 0
    return numbers if shift == 0 else None


def split_address(address: str) -> tuple[str, str]:
    """``(local part, domain)`` of a plain ``local@domain`` address (lower-cased domain)."""
    local, _, domain = address.strip().rpartition("@")
    return local, domain.lower()


class ReturnPaths:
    """Makes and reads the VERP addresses of one bounce address, keyed once."""

    def __init__(self, bounce_address: str, secret_key: str) -> None:
        self.local, self.domain = split_address(bounce_address)
        self._key = _key(secret_key)
        self._pattern = re.compile(
            re.escape(self.local) + re.escape(DELIMITER) + r"([a-z2-7]{16,60})@" + re.escape(self.domain), re.IGNORECASE
        )

    def _tag(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:TAG_BYTES]

    def token(self, send_id: int, subscriber_id: int, attempt: int) -> str:
        """The token naming (send, subscriber, attempt)."""
        body = _varint(send_id) + _varint(subscriber_id) + _varint(attempt)
        return base64.b32encode(body + self._tag(body)).decode("ascii").rstrip("=").lower()

    def address(self, send_id: int, subscriber_id: int, attempt: int) -> str:
        """``local+token@domain`` for one recipient's message."""
        return f"{self.local}{DELIMITER}{self.token(send_id, subscriber_id, attempt)}@{self.domain}"

    def read_token(self, token: str) -> tuple[int, int, int] | None:
        """``(send_id, subscriber_id, attempt)`` of a genuine token, else None (no detail: see ``tokens``)."""
        text = token.strip().upper()
        try:
            raw = base64.b32decode(text + "=" * (-len(text) % 8))
        except (binascii.Error, ValueError):
            return None
        body, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
        if len(raw) <= TAG_BYTES or not hmac.compare_digest(tag, self._tag(body)):
            return None
        numbers = _read_varints(body)
        if numbers is None or len(numbers) != 3:
            return None
        return numbers[0], numbers[1], numbers[2]

    def find(self, text: str) -> tuple[int, int, int] | None:
        """The first genuine VERP reference of this bounce address anywhere in ``text``, else None."""
        for match in self._pattern.finditer(text):
            found = self.read_token(match.group(1))
            if found is not None:
                return found
        return None
