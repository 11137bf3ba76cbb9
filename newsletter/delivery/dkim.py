"""DKIM signing of built messages (SMTP and outbox), with dkimpy, relaxed/relaxed.

``load_signer(settings, from_email)`` reads and checks the key once per
send (``NEWSLETTER_DKIM_SELECTOR`` and ``NEWSLETTER_DKIM_PRIVATE_KEY``;
``None`` when DKIM is off); ``DKIMSigner.sign`` puts a ``DKIM-Signature``
header on top of one message's bytes. The signature covers the headers in
``SIGNED_HEADERS``, the one-click ``List-Unsubscribe-Post`` among them: a
mailbox provider ignores one-click unsubscribe that the signature does not
cover. A header named there but absent from a message is signed as absent,
so nobody can add it on the way.

Cost: dkimpy does RSA in pure Python (about 7 ms a message for a 2048-bit
key on the reference machine; Ed25519, through PyNaCl, under 2 ms) and holds
the GIL while it does, so the SMTP connections' threads do not sign in
parallel; ``bench/dkim.py`` measures it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from newsletter.dkim_key import DKIMKey, read_dkim_key
from newsletter.errors import ConfigError

#: What the signature covers, in this order (``h=``). Reply-To too: a changed reply address is a phishing tool.
SIGNED_HEADERS: tuple[str, ...] = (
    "From", "To", "Subject", "Date", "Message-ID", "Reply-To", "MIME-Version", "Content-Type",
    "List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "Feedback-ID",
)


@dataclass(frozen=True)
class DKIMSigner:
    """Signs messages for ``domain`` with the key published at ``<selector>._domainkey.<domain>``."""

    selector: str
    domain: str
    key: DKIMKey

    def sign(self, message: bytes) -> bytes:
        """``message`` (CRLF line ends) with a ``DKIM-Signature`` header in front; ``ConfigError`` if dkimpy refuses."""
        import dkim

        try:
            header = dkim.sign(
                message, self.selector.encode("ascii"), self.domain.encode("ascii"), self.key.material,
                signature_algorithm=self.key.algorithm, canonicalize=(b"relaxed", b"relaxed"),
                include_headers=[name.encode("ascii") for name in SIGNED_HEADERS],
            )
        except dkim.DKIMException as exc:
            raise ConfigError(f"cannot sign: {exc}", subject="NEWSLETTER_DKIM_PRIVATE_KEY") from None
        return header + message


def signing_domain(settings: Any, from_email: str) -> str:
    """``NEWSLETTER_DKIM_DOMAIN``, or the domain of the From address (what DMARC aligns with)."""
    domain = settings.newsletter_dkim_domain.strip() or from_email.rpartition("@")[2]
    try:
        return domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ConfigError(f"not a domain name: {domain!r}", subject="NEWSLETTER_DKIM_DOMAIN") from None


def load_signer(settings: Any, from_email: str) -> DKIMSigner | None:
    """The signer of one send, its key read and checked now; ``None`` when DKIM is not configured."""
    selector = settings.newsletter_dkim_selector.strip()
    if not selector:
        return None
    key = read_dkim_key(settings.newsletter_dkim_private_key.strip())
    return DKIMSigner(selector, signing_domain(settings, from_email), key)
