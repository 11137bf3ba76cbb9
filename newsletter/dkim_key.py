"""The DKIM private key file (``NEWSLETTER_DKIM_PRIVATE_KEY``): read, told apart, checked.

A foundation module beside ``settings`` (standard library only, so reading
the settings stays cheap): it reads the PEM file, tells an RSA key from an
Ed25519 one by its DER structure and refuses anything else with one
``ConfigError`` line naming the setting. ``delivery/dkim.py`` signs with the
result; ``review/dns.py`` compares it with the public key in DNS.

Accepted: RSA in PKCS#1 (``BEGIN RSA PRIVATE KEY``) or PKCS#8
(``BEGIN PRIVATE KEY``, what ``openssl genpkey`` writes), at least 1024 bits
(RFC 8301; 2048 is what mail providers expect); Ed25519 in PKCS#8, or as the
bare base64 seed that dkimpy's ``dknewkey`` writes.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from pathlib import Path

from newsletter.errors import ConfigError

SETTING = "NEWSLETTER_DKIM_PRIVATE_KEY"
MIN_RSA_BITS = 1024
_RSA_OID = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1 rsaEncryption
_ED25519_OID = bytes.fromhex("2b6570")  # 1.3.101.112
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
#: A DKIM selector or domain: dot-separated labels of letters, digits and inner hyphens (RFC 6376 3.1).
HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*")


@dataclass(frozen=True)
class DKIMKey:
    """A checked private key: ``kind`` 'rsa' or 'ed25519', and what dkimpy and the DNS check need."""

    kind: str
    bits: int
    #: dkimpy's form: PEM bytes (RSA) or the base64 32-byte seed (Ed25519).
    material: bytes = field(repr=False)
    modulus: int = field(default=0, repr=False)  # RSA public part, to compare with DNS
    exponent: int = 0
    seed: bytes = field(default=b"", repr=False)  # Ed25519 private seed

    @property
    def algorithm(self) -> bytes:
        """The DKIM ``a=`` tag value."""
        return b"rsa-sha256" if self.kind == "rsa" else b"ed25519-sha256"


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """``(tag, start, end)`` of the DER element at ``pos``; ``ValueError`` if it runs past the data."""
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4:
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    items = []
    while start < end:
        item = _tlv(data, start)
        items.append(item)
        start = item[2]
    return items


def _rsa(der: bytes, where: str) -> DKIMKey:
    """An RSA key from its PKCS#1 DER; dkimpy gets it back as a plain PEM with LF line ends."""
    tag, start, end = _tlv(der, 0)
    parts = _children(der, start, end)
    if tag != 0x30 or len(parts) < 9 or any(p[0] != 0x02 for p in parts[:9]):
        raise ConfigError(f"not a readable RSA private key: {where}", subject=SETTING)
    modulus = int.from_bytes(der[parts[1][1] : parts[1][2]], "big")
    exponent = int.from_bytes(der[parts[2][1] : parts[2][2]], "big")
    bits = modulus.bit_length()
    if bits < MIN_RSA_BITS:
        raise ConfigError(f"the RSA key has {bits} bits; DKIM needs at least {MIN_RSA_BITS} (2048 recommended): {where}",
                          subject=SETTING)
    body = base64.b64encode(der)
    lines = b"\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    pem = b"-----BEGIN RSA PRIVATE KEY-----\n" + lines + b"\n-----END RSA PRIVATE KEY-----\n"
    return DKIMKey("rsa", bits, pem, modulus=modulus, exponent=exponent)


def _ed25519(seed: bytes) -> DKIMKey:
    return DKIMKey("ed25519", 256, base64.b64encode(seed), seed=seed)


def _pkcs8(der: bytes, where: str) -> DKIMKey:
    tag, start, end = _tlv(der, 0)
    parts = _children(der, start, end)
    if tag != 0x30 or len(parts) < 3 or parts[1][0] != 0x30 or parts[2][0] != 0x04:
        raise ConfigError(f"not a readable PKCS#8 private key: {where}", subject=SETTING)
    algorithm = _children(der, parts[1][1], parts[1][2])
    oid = der[algorithm[0][1] : algorithm[0][2]] if algorithm and algorithm[0][0] == 0x06 else b""
    inner = der[parts[2][1] : parts[2][2]]
    if oid == _RSA_OID:
        return _rsa(inner, where)
    if oid == _ED25519_OID:
        tag, start, end = _tlv(inner, 0)
        if tag != 0x04 or end - start != 32:
            raise ConfigError(f"not a readable Ed25519 private key: {where}", subject=SETTING)
        return _ed25519(inner[start:end])
    raise ConfigError(f"the key is neither RSA nor Ed25519 (DKIM signs with those two only): {where}", subject=SETTING)


def parse_dkim_key(data: bytes, where: str) -> DKIMKey:
    """The key in ``data`` (a file's content; ``where`` names the file in errors), or ``ConfigError``."""
    match = _PEM.search(data)
    if match is None:
        try:
            seed = base64.b64decode(data.strip(), validate=True)
        except (binascii.Error, ValueError):
            seed = b""
        if len(seed) == 32:  # dknewkey's Ed25519 file: the bare seed in base64
            return _ed25519(seed)
        raise ConfigError(f"not a PEM private key (RSA or Ed25519): {where}", subject=SETTING)
    label = match.group(1).decode("ascii")
    if label == "ENCRYPTED PRIVATE KEY":
        raise ConfigError(f"the key is encrypted; give an unencrypted key file readable only by the sender: {where}",
                          subject=SETTING)
    if label not in ("RSA PRIVATE KEY", "PRIVATE KEY"):
        raise ConfigError(f"the file holds {label!r}, neither an RSA nor an Ed25519 private key: {where}", subject=SETTING)
    try:
        der = base64.b64decode(b"".join(match.group(2).split()), validate=True)
        if label == "RSA PRIVATE KEY":
            return _rsa(der, where)
        return _pkcs8(der, where)
    except (binascii.Error, ValueError, IndexError):
        raise ConfigError(f"the PEM data is damaged: {where}", subject=SETTING) from None


def read_dkim_key(path: str | Path) -> DKIMKey:
    """Read and check the key file at ``path``; ``ConfigError`` naming the setting if it cannot sign."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the key file {str(path)!r}: {exc.strerror or exc}", subject=SETTING) from None
    return parse_dkim_key(data, str(path))
