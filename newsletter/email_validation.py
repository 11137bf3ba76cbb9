"""Email address syntax: one verdict and one normalised form for every address.

``email-validator`` is the authority. It is thorough (quoted local parts,
internationalised domains, IDNA, special-use names) and so costs about 20 µs an
address, most of an import of a large list. Nearly every real address is plain
ASCII, though, and for those the rules come down to one regular expression: a
dot-atom local part, an at-sign and lower-cased hostname labels ending in a
letter. ``normalize_email`` tries that strict fast path first and asks
``email-validator`` about everything the fast path does not accept, so the
fast path only ever says "valid, and this is its normalised form" for
addresses on which the two agree (``tests/test_addresses.py`` compares them on
a corpus of tricky addresses). The lists the fast path needs (special-use
domains, case-insensitive role mailboxes) are read from ``email-validator``
itself so an upgrade cannot make the two drift apart.
"""

from __future__ import annotations

import functools
import re

from newsletter.errors import InputError

#: Control characters (C0, DEL, C1) never belong in a name or an address: they
#: would end up in a header.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"  # RFC 1123 hostname label, at most 63 characters
_TLD = r"(?:[A-Za-z0-9][A-Za-z0-9-]{0,61})?[A-Za-z]"  # email-validator: every top-level domain ends with a letter
_PLAIN_ADDRESS = re.compile(rf"({_ATEXT}(?:\.{_ATEXT})*)@((?:{_LABEL}\.)+{_TLD})")
_MAX_LENGTH = 254  # RFC 5321 4.5.3.1.3, as email-validator applies it


@functools.cache
def _validator_rules() -> tuple[frozenset[str], tuple[str, ...], frozenset[str]]:
    """email-validator's special-use names (single labels, then dotted ones) and case-insensitive mailboxes."""
    import email_validator
    from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

    special = [name.lower() for name in email_validator.SPECIAL_USE_DOMAIN_NAMES]
    return (frozenset(n for n in special if "." not in n), tuple(n for n in special if "." in n),
            frozenset(CASE_INSENSITIVE_MAILBOX_NAMES))


def fast_normalize(text: str) -> str | None:
    """The normalised form of a plain ASCII address, or None when only email-validator can tell.

    None is not a verdict: the address may be valid (a quoted local part, an
    internationalised domain) or not; the caller asks email-validator.
    """
    if len(text) > _MAX_LENGTH or not text.isascii():
        return None
    match = _PLAIN_ADDRESS.fullmatch(text)
    if match is None:
        return None
    local, domain = match.groups()
    if "--" in domain:  # Punycode (xn--) and reserved R-LDH labels need the IDNA checks
        return None
    domain = domain.lower()
    special_labels, special_dotted, role_mailboxes = _validator_rules()
    if domain.rpartition(".")[2] in special_labels:  # "x.test" ends in a special-use name
        return None
    if special_dotted and any(domain == name or domain.endswith("." + name) for name in special_dotted):
        return None
    if local.lower() in role_mailboxes:  # RFC 2142: Info@ and info@ are one mailbox
        local = local.lower()
    return f"{local}@{domain}"


def normalize_email(raw: str) -> str:
    """The normalised form of an address; ``InputError`` if it is not a valid address (syntax only)."""
    text = (raw or "").strip()
    if not text:
        raise InputError("empty address")
    if CONTROL.search(text):
        raise InputError("control characters in address")
    fast = fast_normalize(text)
    if fast is not None:
        return fast
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InputError(str(exc), subject=text) from None
