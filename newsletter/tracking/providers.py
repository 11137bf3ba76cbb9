"""Mailbox providers by the recipient's domain (data): results by provider on the send page.

Only domains the providers host for everyone are listed; a company's own domain hosted by
Microsoft 365 or Google Workspace counts under "Others" (telling those apart needs the
domain's MX records, which the dashboard does not look up: it makes no request outside the server).
"""

from __future__ import annotations

GMAIL, MICROSOFT, YAHOO, APPLE, OTHERS = "Gmail", "Outlook/Microsoft", "Yahoo", "Apple iCloud", "Others"
#: Providers in the order the dashboard shows them.
ORDER = (GMAIL, MICROSOFT, YAHOO, APPLE, OTHERS)

DOMAINS: dict[str, str] = {
    **dict.fromkeys(("gmail.com", "googlemail.com"), GMAIL),
    **dict.fromkeys(("outlook.com", "hotmail.com", "live.com", "msn.com", "passport.com", "outlook.de", "outlook.fr",
                     "hotmail.co.uk", "hotmail.de", "hotmail.fr", "hotmail.it", "hotmail.es", "live.co.uk", "live.de",
                     "live.fr", "live.nl", "windowslive.com"), MICROSOFT),
    **dict.fromkeys(("yahoo.com", "ymail.com", "rocketmail.com", "yahoo.co.uk", "yahoo.de", "yahoo.fr", "yahoo.es",
                     "yahoo.it", "yahoo.co.jp", "yahoo.com.br", "yahoo.ca", "yahoo.com.au", "yahoo.in", "aol.com"),
                    YAHOO),
    **dict.fromkeys(("icloud.com", "me.com", "mac.com"), APPLE),
}


def provider_of(domain: str) -> str:
    """The mailbox provider of a recipient's domain (``OTHERS`` when not one of the big four)."""
    return DOMAINS.get(domain.strip().lower().rstrip("."), OTHERS)
