"""Signup rate limits: so many signups per hour from one IP address (an IPv6
network /64: one host gets a whole /64), and so many for one email address, counted in a moving window by the ``limits``
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
        """Count one signup from ``ip`` (an IPv6 address: from its /64); False once it is over the limit."""
        return self._per_ip is None or self._limiter.hit(self._per_ip, "signup-ip", network_of(ip) or "unknown")

    def allow_address(self, email: str) -> bool:
        """Count one signup for ``email`` (any case); False once it is over the limit."""
        if self._per_address is None:
            return True
        digest = hashlib.sha256(email.lower().encode("utf-8")).hexdigest()
        return self._limiter.hit(self._per_address, "signup-address", digest)


def network_of(ip: str) -> str:
    """Who ``ip`` counts as: an IPv4 address itself (also written as ``::ffff:a.b.c.d``), an IPv6 address
    its /64 (one host or home is given a whole /64, so counting addresses would give it 2**64 tries), and
    anything that is not an address as it is."""
    import ipaddress

    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
