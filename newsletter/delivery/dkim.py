"""DKIM signing of built messages (SMTP and outbox), with dkimpy, relaxed/relaxed.

``load_signer(settings, from_email)`` reads and checks the key once per
send (``NEWSLETTER_DKIM_SELECTOR`` and ``NEWSLETTER_DKIM_PRIVATE_KEY``;
``None`` when DKIM is off); ``DKIMSigner.sign`` puts a ``DKIM-Signature``
header on top of one message's bytes. The signature covers the headers in
``SIGNED_HEADERS``, the one-click ``List-Unsubscribe-Post`` among them: a
mailbox provider ignores one-click unsubscribe that the signature does not
cover. A header named there but absent from a message is signed as absent,
so nobody can add it on the way.

Cost: dkimpy canonicalises and hashes each message (about 1.2 ms for a 30 KB
message). Its own RSA step is pure Python (about 7 ms for a 2048-bit key,
holding the GIL), so RSA signatures are made by OpenSSL through
``cryptography`` instead (about 0.3 ms, the GIL released): the same
signature, byte for byte, as PKCS#1 v1.5 is deterministic. Ed25519 goes
through PyNaCl as dkimpy does it. ``bench/dkim.py`` measures both ways.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property
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

        if self.key.kind == "rsa":
            signer = _openssl_rsa_dkim()(message)
            signer.openssl_key = self._openssl_key
        else:
            signer = dkim.DKIM(message)
        try:
            header = signer.sign(
                self.selector.encode("ascii"), self.domain.encode("ascii"), self.key.material,
                signature_algorithm=self.key.algorithm, canonicalize=(b"relaxed", b"relaxed"),
                include_headers=[name.encode("ascii") for name in SIGNED_HEADERS],
            )
        except dkim.DKIMException as exc:
            raise ConfigError(f"cannot sign: {exc}", subject="NEWSLETTER_DKIM_PRIVATE_KEY") from None
        return header + message

    @cached_property
    def _openssl_key(self) -> Any:
        """The RSA key as OpenSSL's (read once per send; ``sign`` may run in several threads at once)."""
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        return load_pem_private_key(self.key.material, password=None)


class _RSASignature:
    """What dkimpy's Ed25519 branch reads back from ``pk.sign(digest)``: the signature bytes."""

    def __init__(self, signature: bytes) -> None:
        self.signature = signature


class _OpenSSLRSA:
    """Signs a SHA-256 digest with RSASSA-PKCS1-v1_5 (what DKIM's rsa-sha256 is) in OpenSSL."""

    def __init__(self, key: Any) -> None:
        self.key = key

    def sign(self, digest: bytes) -> _RSASignature:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

        return _RSASignature(self.key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256())))


@cache
def _openssl_rsa_dkim() -> type:
    """dkimpy's ``DKIM`` with its RSA step done by OpenSSL; everything else (canonicalisation, the
    header hash, folding) stays dkimpy's. Made on first use: dkimpy is imported only when signing."""
    import dkim

    class OpenSSLRSADKIM(dkim.DKIM):
        openssl_key: Any = None

        def gen_header(self, fields: Any, include_headers: Any, canon_policy: Any, header_name: Any, pk: Any,
                       standardize: bool = False) -> Any:
            # dkimpy signs Ed25519 as ``pk.sign(digest).signature`` over the same SHA-256 header hash that
            # rsa-sha256 signs: borrowing that branch with an OpenSSL RSA signer changes only who does the
            # RSA arithmetic. The a= tag is already in ``fields``.
            algorithm: bytes = self.signature_algorithm  # type: ignore[has-type]
            self.signature_algorithm = b"ed25519-sha256"
            try:
                return super().gen_header(fields, include_headers, canon_policy, header_name,
                                          _OpenSSLRSA(self.openssl_key), standardize)
            finally:
                self.signature_algorithm = algorithm

    return OpenSSLRSADKIM


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
