"""A DNS server of the tests' own on loopback (dnslib), serving a zone the test writes, and DKIM test keys.

``DNSZone.start()`` answers UDP and TCP on one loopback port; ``zone.add(name,
"TXT", value)`` publishes a record (long TXT values are split into 255-byte
strings, as in a real zone); a name that has no record of any kind answers
NXDOMAIN; ``zone.fail(name)`` makes it answer SERVFAIL. ``zone.resolver`` is the ``NEWSLETTER_DNS_RESOLVER`` value that
points the tool at it. (``from tests.dnsserver import ...``)
"""

from __future__ import annotations

import base64
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnslib import MX, QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class _Resolver(BaseResolver):
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[Any]] = {}
        self.queries: list[tuple[str, str]] = []
        self.failing: set[str] = set()

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        kind = QTYPE[request.q.qtype]
        self.queries.append((name, kind))
        if name in self.failing:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        for rdata in self.records.get((name, kind), []):
            reply.add_answer(RR(request.q.qname, request.q.qtype, rdata=rdata, ttl=60))
        if not reply.rr and not any(known == name for known, _ in self.records):
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class DNSZone:
    """Records served on 127.0.0.1:<port> over UDP and TCP."""

    def __init__(self) -> None:
        self._resolver = _Resolver()
        self._servers: list[DNSServer] = []
        self.port = 0

    def add(self, name: str, kind: str, value: str) -> DNSZone:
        """Publish one record: TXT (any length) or MX (``"10 mx.example.org"``)."""
        if kind == "TXT":
            data = value.encode()
            rdata: Any = TXT([data[i : i + 255] for i in range(0, len(data), 255)] or [b""])
        elif kind == "MX":
            preference, host = value.split()
            rdata = MX(host, int(preference))
        else:
            raise ValueError(kind)
        self._resolver.records.setdefault((name.lower(), kind), []).append(rdata)
        return self

    def put(self, name: str, kind: str, value: str) -> DNSZone:
        """Publish ``value`` as the only record of this name and type."""
        self._resolver.records.pop((name.lower(), kind), None)
        return self.add(name, kind, value)

    def fail(self, name: str) -> DNSZone:
        """Answer SERVFAIL for every question about ``name``."""
        self._resolver.failing.add(name.lower())
        return self

    def clear(self) -> None:
        """Forget every record (and every failing name)."""
        self._resolver.records.clear()
        self._resolver.failing.clear()

    @property
    def queries(self) -> list[tuple[str, str]]:
        """Every ``(name, type)`` asked so far."""
        return self._resolver.queries

    @property
    def resolver(self) -> str:
        """``host:port`` for NEWSLETTER_DNS_RESOLVER."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> DNSZone:
        """Listen on a free loopback port (the same one for UDP and TCP)."""
        logger = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
        for _ in range(20):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            try:
                udp = DNSServer(self._resolver, port=port, address="127.0.0.1", logger=logger)
                tcp = DNSServer(self._resolver, port=port, address="127.0.0.1", tcp=True, logger=logger)
            except OSError:
                continue
            self._servers = [udp, tcp]
            self.port = port
            for server in self._servers:
                server.start_thread()
            return self
        raise RuntimeError("no free loopback port for the DNS server")

    def stop(self) -> None:
        """Stop both servers."""
        for server in self._servers:
            server.stop()
            server.server.server_close()


def txt_lookup(zone: DNSZone):
    """A dkimpy ``dnsfunc``: TXT lookups through dnspython, asking ``zone``'s server."""
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = zone.port

    def get_txt(name: bytes, timeout: float = 5) -> bytes | None:
        try:
            answer = resolver.resolve(name.decode().rstrip("."), "TXT", lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        return b"".join(answer[0].strings)

    return get_txt


@dataclass(frozen=True)
class TestKey:
    """A DKIM key pair: the private PEM file and the DNS record value of its public half."""

    __test__ = False  # not a test class
    kind: str
    path: Path
    record: str


def make_key(kind: str, folder: Path, name: str | None = None) -> TestKey:
    """A fresh RSA 2048 or Ed25519 key written to ``folder/<name>.pem``, with its ``v=DKIM1`` record."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == "rsa" \
        else ed25519.Ed25519PrivateKey.generate()
    path = folder / f"{name or kind}.pem"
    path.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    if kind == "rsa":
        public = private.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    else:
        public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return TestKey(kind, path, f"v=DKIM1; k={kind}; p={base64.b64encode(public).decode()}")
