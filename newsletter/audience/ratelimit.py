"""Signup rate limits: so many signups per hour from one IP address, and so
many for one email address, counted in a moving window by the ``limits``
library in ``serve``'s memory (one process; a restart starts afresh).

Addresses are counted under a hash, so the limiter's memory holds no
address in clear.
"""

from __future__ import annotations

import hashlib

from newsletter.settings import Settings


class SignupLimits:
    """Per-IP and per-address moving-window limits (``0`` turns one off)."""

    def __init__(self, settings: Settings) -> None:
        from limits import RateLimitItemPerHour
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        per_ip, per_address = settings.newsletter_signup_limit_ip, settings.newsletter_signup_limit_address
        self._per_ip = RateLimitItemPerHour(per_ip) if per_ip > 0 else None
        self._per_address = RateLimitItemPerHour(per_address) if per_address > 0 else None

    def allow_ip(self, ip: str) -> bool:
        """Count one signup from ``ip``; False once it is over the limit."""
        return self._per_ip is None or self._limiter.hit(self._per_ip, "signup-ip", ip or "unknown")

    def allow_address(self, email: str) -> bool:
        """Count one signup for ``email`` (any case); False once it is over the limit."""
        if self._per_address is None:
            return True
        digest = hashlib.sha256(email.lower().encode("utf-8")).hexdigest()
        return self._limiter.hit(self._per_address, "signup-address", digest)
