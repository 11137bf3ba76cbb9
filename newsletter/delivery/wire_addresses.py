"""Addresses as the wire needs them: international domains in their ASCII (IDNA) form.

Subscribers are stored as people typed them (``user@exämple.org``); SMTP
envelopes, headers and provider APIs get ``user@xn--exmple-cua.org``. A
non-ASCII *local part* has no ASCII form: it needs SMTPUTF8 (RFC 6531).
"""

from __future__ import annotations

import functools


def wire_address(email: str) -> tuple[str, bool]:
    """``(address with an ASCII domain, whether the local part needs SMTPUTF8)``.

    Raises ``ValueError`` when the domain has no valid IDNA form.
    """
    if email.isascii():  # nearly every address: no cache lookup on the way
        return email, False
    return _international(email)


@functools.lru_cache(maxsize=4096)
def _international(email: str) -> tuple[str, bool]:
    local, _, domain = email.rpartition("@")
    if not domain.isascii():
        import idna

        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise ValueError(f"domain {domain!r} has no valid international (IDNA) form: {exc}") from None
    return f"{local}@{domain}", not local.isascii()
