"""``newsletter check --dns``: is the sending domain's DNS ready for what we send?

Looks up, through dnspython (``NEWSLETTER_DNS_RESOLVER`` or the system's resolver):

| code                  | severity | what                                                                  |
|-----------------------|----------|-----------------------------------------------------------------------|
| dns-spf-missing       | error    | no SPF record (``v=spf1``) for the From or the bounce domain          |
| dns-spf-multiple      | error    | more than one SPF record: receivers treat that as an error (RFC 7208) |
| dns-spf-plus-all      | error    | the SPF record ends in ``+all``: anyone may send as the domain        |
| dns-dkim-unset        | warning  | no ``NEWSLETTER_DKIM_SELECTOR``: SMTP and outbox messages go unsigned |
| dns-dkim-missing      | error    | no public key at ``<selector>._domainkey.<domain>``                   |
| dns-dkim-mismatch     | error    | the public key there is not the one of our private key (or revoked)   |
| dns-dmarc-missing     | error    | no DMARC record (``_dmarc.<domain>``), required of bulk senders       |
| dns-dmarc-invalid     | error    | the DMARC record does not start ``v=DMARC1`` or has no valid ``p=``   |
| dns-dmarc-misaligned  | error    | the bounce (SPF) or DKIM domain is not aligned with From under DMARC  |
| dns-mx-missing        | error    | the bounce domain has no MX (or a null MX): bounces cannot arrive     |
| dns-lookup-failed     | error    | the DNS server did not answer (timeout, SERVFAIL)                     |

Alignment is judged on organisational domains approximated as the last two
labels (three under a two-letter country code's ``co``/``com``/``org``/...),
not on the full Public Suffix List: good for the usual cases, and said here.

``dns_findings`` is what ``check --dns`` runs and what ``send`` can show in
its confirmation (``summary_line``).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import socket
from collections.abc import Sequence
from email.utils import parseaddr
from typing import Any

from newsletter.compose.model import ERROR, WARNING, Finding
from newsletter.errors import ConfigError
from newsletter.settings import Settings, resolver_address

_SECOND_LEVEL = {"co", "com", "org", "net", "ac", "gov", "edu", "ne", "or", "go"}


class _LookupFailed(Exception):
    """The server gave no usable answer (not the same as 'no such record'); ``silent``: it did not answer at all."""

    def __init__(self, message: str, *, silent: bool = False) -> None:
        super().__init__(message)
        self.silent = silent


def organisational_domain(domain: str) -> str:
    """An approximation of the DMARC organisational domain (see the module doc)."""
    labels = domain.lower().rstrip(".").split(".")
    keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    return ".".join(labels[-keep:])


def _aligned(domain: str, from_domain: str, mode: str) -> bool:
    if mode == "s":
        return domain == from_domain
    return organisational_domain(domain) == organisational_domain(from_domain)


def _domain_of(address: str, setting: str) -> str:
    email = parseaddr(address)[1]
    if "@" not in email:
        raise ConfigError(f"not an address: {address!r}", subject=setting)
    try:
        return email.rpartition("@")[2].encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ConfigError(f"not a domain name in {address!r}", subject=setting) from None


def _tags(record: str) -> dict[str, str]:
    """``k=v; k=v`` (DKIM and DMARC records) as a dict; names lower-cased, blanks dropped."""
    tags = {}
    for part in record.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags[name.strip().lower()] = "".join(value.split())
    return tags


class Lookup:
    """TXT and MX lookups through one resolver; 'no record' is ``[]``, no answer raises ``_LookupFailed``."""

    def __init__(self, settings: Settings) -> None:
        """Use ``NEWSLETTER_DNS_RESOLVER`` when set, else the system's resolver configuration."""
        import dns.resolver

        self.server = settings.newsletter_dns_resolver.strip()
        if self.server:
            host, port = resolver_address(self.server)
            try:
                address = str(ipaddress.ip_address(host))
            except ValueError:
                try:
                    address = str(socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][4][0])
                except OSError as exc:
                    raise ConfigError(f"cannot resolve {host!r}: {exc}", subject="NEWSLETTER_DNS_RESOLVER") from None
            self.resolver = dns.resolver.Resolver(configure=False)
            self.resolver.nameservers = [address]
            self.resolver.port = port
        else:
            try:
                self.resolver = dns.resolver.Resolver()
            except dns.resolver.NoResolverConfiguration:
                raise ConfigError("no system DNS resolver is configured; set it", subject="NEWSLETTER_DNS_RESOLVER") from None
            self.server = "the system resolver"
        self.resolver.timeout = 2.0
        self.resolver.lifetime = 5.0

    def _answer(self, name: str, kind: str) -> Any:
        import dns.exception
        import dns.resolver

        try:
            return list(self.resolver.resolve(name, kind, search=False))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.Timeout:
            raise _LookupFailed(f"no answer from {self.server} within {self.resolver.lifetime:.0f} s "
                                f"({kind} {name}); later lookups skipped", silent=True) from None
        except dns.resolver.NoNameservers:  # SERVFAIL or REFUSED
            raise _LookupFailed(f"{self.server} could not answer for {kind} {name} (SERVFAIL or refused)") from None
        except dns.exception.DNSException as exc:  # a name too long, a broken answer
            raise _LookupFailed(f"{kind} lookup of {name} through {self.server} failed: {exc}") from None

    def txt(self, name: str) -> list[str]:
        """The TXT records at ``name``, each one's strings joined."""
        return [b"".join(r.strings).decode("utf-8", "replace") for r in self._answer(name, "TXT")]

    def mx(self, name: str) -> list[str]:
        """The mail exchangers of ``name``; a null MX (RFC 7505, ``0 .``) counts as none."""
        hosts = [r.exchange.to_text() for r in self._answer(name, "MX")]
        return [h for h in hosts if h not in (".", "")]


def _spf(lookup: Lookup, domain: str, role: str) -> list[Finding]:
    records = [r for r in lookup.txt(domain) if r.lower().split(" ", 1)[0] == "v=spf1"]
    if not records:
        return [Finding("dns-spf-missing", ERROR, f"no SPF record (TXT v=spf1) for the {role} domain {domain}", domain)]
    if len(records) > 1:
        return [Finding("dns-spf-multiple", ERROR, f"{len(records)} SPF records for {domain}; receivers reject that: "
                        "merge them into one", domain)]
    terms = records[0].lower().split()
    if "+all" in terms or "all" in terms:
        return [Finding("dns-spf-plus-all", ERROR, f"the SPF record of {domain} ends in +all: it lets anyone send as "
                        "the domain; end it in ~all or -all", domain)]
    return []


def _public_key_matches(record: dict[str, str], key: Any) -> str:
    """Why the DNS key is not ours ("" if it is)."""
    kind = record.get("k", "rsa").lower()
    if not record.get("p"):
        return "the record's p= is empty (the key is revoked)"
    if kind != key.kind:
        return f"the record holds an {kind} key, ours is {key.kind}"
    try:
        public = base64.b64decode(record["p"], validate=True)
    except (binascii.Error, ValueError):
        return "the record's p= is not base64"
    if key.kind == "ed25519":
        import nacl.signing

        ours = nacl.signing.SigningKey(key.seed).verify_key.encode()
        return "" if public == ours else "the Ed25519 public key differs from ours"
    from dkim.crypto import UnparsableKeyError, parse_public_key

    try:
        theirs = parse_public_key(public)
    except UnparsableKeyError:
        return "the record's RSA key cannot be parsed"
    same = theirs["modulus"] == key.modulus and theirs["publicExponent"] == key.exponent
    return "" if same else "the RSA public key differs from ours"


def _dkim(lookup: Lookup, settings: Settings, from_email: str) -> tuple[list[Finding], str]:
    """Findings about the selector's record, and the signing domain ('' without DKIM)."""
    from newsletter.delivery.dkim import signing_domain
    from newsletter.dkim_key import read_dkim_key

    selector = settings.newsletter_dkim_selector.strip()
    if not selector:
        if settings.newsletter_backend == "sendgrid":
            return [], ""  # SendGrid signs with the keys of its own domain authentication
        return [Finding("dns-dkim-unset", WARNING, "NEWSLETTER_DKIM_SELECTOR is not set: SMTP and outbox messages are "
                        "not DKIM-signed, and Gmail and Yahoo want bulk mail signed", "NEWSLETTER_DKIM_SELECTOR")], ""
    domain = signing_domain(settings, from_email)
    name = f"{selector}._domainkey.{domain}"
    records = [_tags(r) for r in lookup.txt(name)]
    records = [r for r in records if "p" in r]
    if not records:
        return [Finding("dns-dkim-missing", ERROR, f"no DKIM public key at {name}", name)], domain
    why = _public_key_matches(records[0], read_dkim_key(settings.newsletter_dkim_private_key.strip()))
    if why:
        return [Finding("dns-dkim-mismatch", ERROR, f"the DKIM key at {name} does not match "
                        f"NEWSLETTER_DKIM_PRIVATE_KEY: {why}", name)], domain
    return [], domain


def _dmarc(lookup: Lookup, from_domain: str, bounce_domain: str, dkim_domain: str) -> list[Finding]:
    names = [f"_dmarc.{from_domain}"]
    if organisational_domain(from_domain) != from_domain:
        names.append(f"_dmarc.{organisational_domain(from_domain)}")
    for name in names:
        records = [r for r in lookup.txt(name) if r.replace(" ", "").lower().startswith("v=dmarc1")]
        if records:
            break
    else:
        return [Finding("dns-dmarc-missing", ERROR, f"no DMARC record for {from_domain} (TXT at {names[0]}); Gmail and "
                        "Yahoo require one of bulk senders", names[0])]
    tags = _tags(records[0])
    if tags.get("p", "").lower() not in ("none", "quarantine", "reject"):
        return [Finding("dns-dmarc-invalid", ERROR, f"the DMARC record at {name} has no valid p= (none, quarantine or "
                        "reject)", name)]
    findings = []
    spf_mode, dkim_mode = tags.get("aspf", "r").lower(), tags.get("adkim", "r").lower()
    if not _aligned(bounce_domain, from_domain, spf_mode):
        findings.append(Finding("dns-dmarc-misaligned", ERROR, f"the bounce domain {bounce_domain} is not aligned with "
                                f"the From domain {from_domain} (aspf={spf_mode}): SPF cannot pass DMARC", name))
    if dkim_domain and not _aligned(dkim_domain, from_domain, dkim_mode):
        findings.append(Finding("dns-dmarc-misaligned", ERROR, f"the DKIM domain {dkim_domain} is not aligned with "
                                f"the From domain {from_domain} (adkim={dkim_mode}): DKIM cannot pass DMARC", name))
    return findings


def dns_findings(settings: Settings, from_address: str) -> list[Finding]:
    """Every missing or wrong DNS record for sending as ``from_address`` (SPF, DKIM, DMARC, bounce MX).

    ``ConfigError`` for unusable settings (a resolver that cannot be found); a server that does not
    answer is a ``dns-lookup-failed`` finding per lookup, never an exception.
    """
    from_domain = _domain_of(from_address, "NEWSLETTER_FROM")
    from_email = parseaddr(from_address)[1]
    bounce = settings.newsletter_bounce_address.strip()
    bounce_domain = _domain_of(bounce, "NEWSLETTER_BOUNCE_ADDRESS") if bounce else from_domain
    lookup = Lookup(settings)
    findings: list[Finding] = []

    silent: list[bool] = []  # a server that does not answer is asked once, not five times over (5 s each)

    def run(where: str, step: Any, *args: Any) -> Any:
        if silent:
            return None
        try:
            return step(lookup, *args)
        except _LookupFailed as exc:
            findings.append(Finding("dns-lookup-failed", ERROR, str(exc), where))
            if exc.silent:
                silent.append(True)
            return None

    for domain, role in ((from_domain, "From"), (bounce_domain, "bounce")):
        if role == "bounce" and domain == from_domain:
            continue
        findings += run(domain, _spf, domain, role) or []
    dkim = run(settings.newsletter_dkim_selector.strip() + "._domainkey", _dkim, settings, from_email)
    dkim_findings, dkim_domain = dkim if dkim is not None else ([], "")
    findings += dkim_findings
    findings += run(f"_dmarc.{from_domain}", _dmarc, from_domain, bounce_domain, dkim_domain) or []
    if run(bounce_domain, Lookup.mx, bounce_domain) == []:
        findings.append(Finding("dns-mx-missing", ERROR, f"the bounce domain {bounce_domain} has no MX record: "
                                "bounces cannot reach us", bounce_domain))
    return findings


def summary_line(findings: Sequence[Finding]) -> str:
    """One line for ``send``'s confirmation: all in order, or the codes of what is wrong."""
    if not findings:
        return "DNS:        SPF, DKIM, DMARC and the bounce MX are in order"
    codes = ", ".join(sorted({f.code for f in findings}))
    return f"DNS:        {len(findings)} problem(s): {codes} (see `newsletter check --dns`)"
