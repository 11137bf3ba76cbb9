"""Every setting of the tool, resolved in one place.

Order, first match wins:

1. an explicit value passed by the caller (a CLI option such as ``--backend``);
2. the process environment (``NEWSLETTER_BACKEND=smtp newsletter send ...``);
3. the ``.env`` file in the current directory (or the file named by
   ``NEWSLETTER_ENV_FILE``);
4. the default below.

Every setting is listed and explained in ``.env.example``; a test keeps the
two in step. Secrets (API keys, passwords, the signing key) are never part of
``repr()`` so they cannot leak into logs or error messages.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from newsletter.errors import ConfigError, InputError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _secret(default: str = "") -> Any:
    return field(default=default, repr=False, metadata={"secret": True})


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Field names are the environment names, lower-cased."""

    # --- identity and layout -------------------------------------------
    newsletter_brand: str = "Our Newsletter"
    newsletter_from: str = "Newsletter <newsletter@example.org>"
    newsletter_reply_to: str = ""
    newsletter_postal_address: str = "Example Organisation, 1 Example Street, 00000 Example City"
    newsletter_reason: str = "You are receiving this email because you subscribed to our newsletter."
    newsletter_site_url: str = ""
    newsletter_layouts: str = "layouts"
    newsletter_build_dir: str = "build"
    newsletter_utm: bool = True
    newsletter_utm_source: str = "newsletter"
    newsletter_web_fonts: bool = False
    # --- archive -----------------------------------------------------------
    newsletter_archive_default: str = "public"
    newsletter_archive_url: str = ""
    newsletter_issues: str = "issues"
    # --- store and delivery ----------------------------------------------
    newsletter_database: str = field(default="newsletter.db", repr=False)  # a PostgreSQL URL may hold a password
    newsletter_backend: str = "outbox"
    newsletter_outbox: str = "outbox"
    newsletter_public_url: str = "http://127.0.0.1:8000"
    newsletter_allow_local_links: bool = False
    newsletter_secret_key: str = _secret()
    newsletter_unsubscribe_mailto: str = ""
    newsletter_list_id: str = ""
    newsletter_reviewers: str = ""
    newsletter_tracking: bool = False
    newsletter_rate: float = 0.0
    newsletter_concurrency: int = 4
    newsletter_database_timeout: float = 30.0
    newsletter_lease_seconds: float = 60.0
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = _secret()
    smtp_security: str = "none"
    smtp_timeout: float = 30.0
    smtp_connections: int = 4
    sendgrid_api_key: str = _secret()
    sendgrid_api_url: str = "https://api.sendgrid.com"
    sendgrid_asm_group_id: int = 0
    sendgrid_sandbox: bool = False
    sendgrid_tracking: bool = True
    sendgrid_timeout: float = 30.0
    sendgrid_webhook_public_key: str = ""
    # --- authentication: DKIM signing and the DNS check -------------------
    newsletter_dkim_selector: str = ""
    newsletter_dkim_private_key: str = ""  # a path; the key itself is never read into the settings
    newsletter_dkim_domain: str = ""
    newsletter_dns_resolver: str = ""
    # --- audience: signup, consent, erasure ------------------------------
    newsletter_consent_text: str = "Yes, send me this newsletter by email. I can unsubscribe at any time."
    newsletter_signup_origins: str = ""
    newsletter_signup_ip: str = "hashed"
    newsletter_confirm_hours: int = 48
    newsletter_confirm_interval_minutes: int = 60
    newsletter_pending_days: int = 7
    newsletter_signup_limit_ip: int = 20
    newsletter_signup_limit_address: int = 3
    newsletter_trusted_proxies: str = "127.0.0.1,::1"

    # --- dashboard -----------------------------------------------------------
    newsletter_admin_token: str = _secret()
    newsletter_admin_users: str = _secret()  # name:sha256-hex-of-password, comma-separated
    newsletter_admin_signin_limit: int = 10

    # --- release: approvals and scheduling ------------------------------
    newsletter_required_approvals: int = 0
    newsletter_allowed_signers: str = ""
    newsletter_timezone: str = ""
    newsletter_sendgrid_send_at: bool = False  # on: hand over at scheduling time (unsubscribes after it go unheard)
    newsletter_worker_poll_seconds: float = 30.0

    # --- bounces of SMTP sends ---------------------------------------------
    newsletter_bounce_address: str = ""
    newsletter_bounce_mailbox: str = _secret()  # a URL that may hold the mailbox password
    newsletter_bounce_folder: str = ""
    newsletter_bounce_soft_limit: int = 3
    newsletter_bounce_soft_window: int = 5
    newsletter_bounce_poll_seconds: float = 300.0  # how often `newsletter worker` reads the mailbox

    # --- diagnostics -------------------------------------------------------
    newsletter_debug: bool = False

    def __post_init__(self) -> None:
        validate(self)

    def with_overrides(self, **values: Any) -> Settings:
        """Return a copy with explicit (CLI) values applied; ``None`` means 'not given'."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    def path(self, name: str) -> Path:
        """A path-valued setting as a ``Path``."""
        return Path(getattr(self, name))

    @property
    def signup_origins(self) -> list[str]:
        """``NEWSLETTER_SIGNUP_ORIGINS`` split on commas, blanks and trailing slashes dropped."""
        return [o.strip().rstrip("/") for o in self.newsletter_signup_origins.split(",") if o.strip()]

    @property
    def archive_url(self) -> str:
        """Where the web archive lives, ending in '/': ``NEWSLETTER_ARCHIVE_URL``, else ``serve``'s /archive/."""
        base = self.newsletter_archive_url.strip() or self.newsletter_public_url.strip().rstrip("/") + "/archive/"
        return base if base.endswith("/") else base + "/"

    @property
    def trusted_proxies(self) -> list[str]:
        """``NEWSLETTER_TRUSTED_PROXIES``: addresses and networks whose X-Forwarded-For ``serve`` believes."""
        return [p.strip() for p in self.newsletter_trusted_proxies.split(",") if p.strip()]

    @property
    def admin_users(self) -> dict[str, str]:
        """``NEWSLETTER_ADMIN_USERS`` as ``{name: sha256 hex of the password}`` (validated when read)."""
        users: dict[str, str] = {}
        for entry in self.newsletter_admin_users.split(","):
            if entry.strip():
                name, _, digest = entry.strip().partition(":")
                users[name.strip()] = digest.strip().lower()
        return users

    @property
    def reviewers(self) -> list[str]:
        """``NEWSLETTER_REVIEWERS`` split on commas, blanks dropped."""
        return [r.strip() for r in self.newsletter_reviewers.split(",") if r.strip()]


#: An issue's place in the web archive (frontmatter ``archive:``): in the indexes, feeds and sitemap;
#: only at its own URL (noindex); or not on the web at all.
ARCHIVE_VISIBILITY = ("public", "unlisted", "none")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_POSITIVE = ("newsletter_database_timeout", "newsletter_lease_seconds", "smtp_timeout", "sendgrid_timeout",
             "newsletter_worker_poll_seconds", "newsletter_bounce_poll_seconds")


def _url(name: str, value: str, *, required: bool) -> None:
    from urllib.parse import urlsplit

    if not value.strip():
        if required:
            raise ConfigError("must be set to an absolute URL such as https://news.example.org", subject=name.upper())
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"must be an absolute http:// or https:// URL, got {value!r}", subject=name.upper())


#: Characters that would end or split the ``<URL>`` of a List-Unsubscribe header.
_HEADER_BREAKERS = '"<> '


def public_url_problem(url: str) -> str:
    """Why subscribers could not follow links to ``url`` (the public URL of ``serve``); '' when they could.

    Refused for a real send: ``localhost``, a loopback or private address, anything but https://
    (mail providers require HTTPS for one-click unsubscribe, RFC 8058).
    """
    import ipaddress
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    where = ""
    if host == "localhost" or host.endswith(".localhost"):
        where = "localhost"
    else:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is not None and address.is_loopback:
            where = "a loopback address"
        elif address is not None and (address.is_private or address.is_link_local or address.is_unspecified):
            where = "a private address"
    if where:
        return f"{url} is {where}: subscribers' unsubscribe links would lead nowhere"
    if parts.scheme != "https":
        return f"{url} is not https://: mail providers require HTTPS for one-click unsubscribe (RFC 8058)"
    return ""


def validate(settings: Settings) -> None:
    """Refuse settings that would break messages, before anything is written (``ConfigError``)."""
    for f in fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, str) and _CONTROL.search(value):
            raise ConfigError("contains a line break or another control character", subject=f.name.upper())
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"must be a finite number, got {value!r}", subject=f.name.upper())
    _url("newsletter_public_url", settings.newsletter_public_url, required=True)
    breakers = sorted({c for c in settings.newsletter_public_url.strip() if c in _HEADER_BREAKERS})
    if breakers:
        shown = ", ".join("a space" if c == " " else repr(c) for c in breakers)
        raise ConfigError(f"must not contain {shown} (it would break the List-Unsubscribe header)",
                          subject="NEWSLETTER_PUBLIC_URL")
    _url("sendgrid_api_url", settings.sendgrid_api_url, required=True)
    _url("newsletter_site_url", settings.newsletter_site_url, required=False)
    _url("newsletter_archive_url", settings.newsletter_archive_url, required=False)
    if settings.newsletter_archive_default not in ARCHIVE_VISIBILITY:
        raise ConfigError(f"must be one of {', '.join(ARCHIVE_VISIBILITY)}, got {settings.newsletter_archive_default!r}",
                          subject="NEWSLETTER_ARCHIVE_DEFAULT")
    if settings.newsletter_rate < 0:
        raise ConfigError(f"must be 0 (no limit) or a positive number, got {settings.newsletter_rate!r}",
                          subject="NEWSLETTER_RATE")
    for name in _POSITIVE:
        if getattr(settings, name) <= 0:
            raise ConfigError(f"must be a positive number of seconds, got {getattr(settings, name)!r}",
                              subject=name.upper())
    if not 0 < settings.smtp_port < 65536:
        raise ConfigError(f"must be a port number (1-65535), got {settings.smtp_port}", subject="SMTP_PORT")
    if settings.newsletter_concurrency < 1:
        raise ConfigError(f"must be at least 1, got {settings.newsletter_concurrency}", subject="NEWSLETTER_CONCURRENCY")
    if settings.smtp_connections < 1:
        raise ConfigError(f"must be at least 1, got {settings.smtp_connections}", subject="SMTP_CONNECTIONS")
    if settings.newsletter_required_approvals < 0:
        raise ConfigError(f"must be 0 (no approvals needed) or more, got {settings.newsletter_required_approvals}",
                          subject="NEWSLETTER_REQUIRED_APPROVALS")
    _bounce_settings(settings)
    _dkim(settings)
    _admin(settings)
    if settings.newsletter_timezone:
        zone(settings.newsletter_timezone, subject="NEWSLETTER_TIMEZONE")
    _networks(settings.trusted_proxies, "NEWSLETTER_TRUSTED_PROXIES")


def _networks(entries: list[str], name: str) -> None:
    import ipaddress

    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(f"{entry!r} is not an IP address or network (such as 10.0.0.5 or 10.0.0.0/8)",
                              subject=name) from None


def zone(name: str, *, subject: str = "--tz") -> ZoneInfo:
    """The IANA zone ``name`` (such as Europe/Berlin); an error naming ``subject`` if there is none."""
    error = ConfigError if subject.isupper() else InputError  # a setting, or a command's option
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise error(f"unknown time zone {name!r} (use a name such as Europe/Berlin or America/New_York)",
                    subject=subject) from None


#: The kinds of mailbox ``NEWSLETTER_BOUNCE_MAILBOX`` may name.
BOUNCE_MAILBOX_SCHEMES = ("imaps", "imap", "pop3s", "pop3", "maildir")


def _bounce_settings(settings: Settings) -> None:
    """The bounce address (a plain address: its local part gets ``+<token>``), mailbox URL, folder and rule."""
    from newsletter.dkim_key import HOSTNAME

    address = settings.newsletter_bounce_address.strip()
    if address:
        local, at, domain = address.rpartition("@")
        if not (at and local and "." in domain and HOSTNAME.fullmatch(domain)) or any(c in address for c in " <>+\"\\"):
            raise ConfigError(f"must be a plain address such as bounces@news.example.org (no '+'), got {address!r}",
                              subject="NEWSLETTER_BOUNCE_ADDRESS")
    mailbox = settings.newsletter_bounce_mailbox.strip()
    if mailbox:
        scheme = mailbox.partition("://")[0].lower()
        if "://" not in mailbox or scheme not in BOUNCE_MAILBOX_SCHEMES:
            # Never the value itself: it may hold a password.
            raise ConfigError("must be an imaps://, imap://, pop3s://, pop3:// or maildir:/// URL",
                              subject="NEWSLETTER_BOUNCE_MAILBOX")
        if scheme.startswith("pop3") and settings.newsletter_bounce_folder:
            raise ConfigError("POP3 has no folders: leave it empty (recognised bounces are deleted)",
                              subject="NEWSLETTER_BOUNCE_FOLDER")
    if settings.newsletter_bounce_soft_limit < 1:
        raise ConfigError(f"must be at least 1, got {settings.newsletter_bounce_soft_limit}",
                          subject="NEWSLETTER_BOUNCE_SOFT_LIMIT")
    if settings.newsletter_bounce_soft_window < settings.newsletter_bounce_soft_limit:
        raise ConfigError(f"must be at least NEWSLETTER_BOUNCE_SOFT_LIMIT ({settings.newsletter_bounce_soft_limit}), "
                          f"got {settings.newsletter_bounce_soft_window}", subject="NEWSLETTER_BOUNCE_SOFT_WINDOW")


def _dkim(settings: Settings) -> None:
    """DKIM selector, key file (read and checked: type, size), domain and DNS resolver."""
    from newsletter.dkim_key import HOSTNAME, read_dkim_key

    selector, key = settings.newsletter_dkim_selector.strip(), settings.newsletter_dkim_private_key.strip()
    if selector and not key:
        raise ConfigError("must name the private key file when NEWSLETTER_DKIM_SELECTOR is set",
                          subject="NEWSLETTER_DKIM_PRIVATE_KEY")
    if key and not selector:
        raise ConfigError("must be set when NEWSLETTER_DKIM_PRIVATE_KEY is (the DNS name of the public key: "
                          "<selector>._domainkey.<domain>)", subject="NEWSLETTER_DKIM_SELECTOR")
    if selector and not HOSTNAME.fullmatch(selector):
        raise ConfigError(f"not a DKIM selector (letters, digits, inner hyphens and dots): {selector!r}",
                          subject="NEWSLETTER_DKIM_SELECTOR")
    domain = settings.newsletter_dkim_domain.strip()
    if domain and not (HOSTNAME.fullmatch(domain) and "." in domain):
        raise ConfigError(f"not a domain name: {domain!r}", subject="NEWSLETTER_DKIM_DOMAIN")
    if key:
        read_dkim_key(key)
    resolver = settings.newsletter_dns_resolver.strip()
    if resolver:
        resolver_address(resolver)


def resolver_address(value: str) -> tuple[str, int]:
    """``NEWSLETTER_DNS_RESOLVER`` as ``(host, port)``: ``host``, ``host:port``, an IPv6 address or ``[v6]:port``."""
    host, port = value.strip(), "53"
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif host.count(":") == 1:
        host, port = host.split(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or " " in host:
        raise ConfigError(f"expected host or host:port, got {value!r}", subject="NEWSLETTER_DNS_RESOLVER")
    return host, int(port)


_ADMIN_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def _admin(settings: Settings) -> None:
    token = settings.newsletter_admin_token
    if token and len(token.strip()) < 16:
        raise ConfigError("must be at least 16 characters (e.g. `openssl rand -hex 24`)", subject="NEWSLETTER_ADMIN_TOKEN")
    for entry in settings.newsletter_admin_users.split(","):
        if not entry.strip():
            continue
        name, colon, digest = entry.strip().partition(":")
        if not colon or not _ADMIN_NAME.match(name.strip()) or not _SHA256_HEX.match(digest.strip().lower()):
            # Never echo the entry: it holds a password's hash.
            raise ConfigError("expected name:sha256-hex-of-password entries separated by commas",
                              subject="NEWSLETTER_ADMIN_USERS")
    if settings.newsletter_admin_signin_limit < 0:
        raise ConfigError(f"must be 0 (no limit) or more, got {settings.newsletter_admin_signin_limit}",
                          subject="NEWSLETTER_ADMIN_SIGNIN_LIMIT")


def setting_names() -> list[str]:
    """Environment names of every setting, in declaration order."""
    return [f.name.upper() for f in fields(Settings)] + ["NEWSLETTER_ENV_FILE"]


def _coerce(name: str, kind: Any, raw: str) -> Any:
    text = raw.strip()
    if kind in (bool, "bool"):
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ConfigError(f"expected on/off, got {text!r}", subject=name.upper())
    if kind in (int, "int"):
        try:
            return int(text or 0)
        except ValueError:
            raise ConfigError(f"expected a whole number, got {text!r}", subject=name.upper()) from None
    if kind in (float, "float"):
        try:
            return float(text or 0)
        except ValueError:
            raise ConfigError(f"expected a number, got {text!r}", subject=name.upper()) from None
    return raw


def load_settings(environ: Mapping[str, str] | None = None, env_file: str | Path | None = None) -> Settings:
    """Resolve settings from ``environ`` (default ``os.environ``) over the ``.env`` file.

    ``env_file`` defaults to ``NEWSLETTER_ENV_FILE`` or ``./.env``. A missing
    ``./.env`` is fine; a file named on purpose (``NEWSLETTER_ENV_FILE``) that
    does not exist is a ``ConfigError``, as is an unreadable one: settings
    silently left at their defaults could send through the wrong backend.
    ``/dev/null`` names no settings at all.
    """
    env = dict(os.environ if environ is None else environ)
    named = env_file or env.get("NEWSLETTER_ENV_FILE")
    path = Path(named or ".env")
    if named and not path.exists():
        raise ConfigError(f"names {str(path)!r}, which does not exist (unset it to read ./.env, or set it to "
                          "/dev/null to read no file)", subject="NEWSLETTER_ENV_FILE")
    file_values: dict[str, str | None] = {}
    if path.is_file():
        from dotenv import dotenv_values  # small, but only needed when a file exists

        try:
            file_values = dotenv_values(path, interpolate=False)
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read settings file: {exc}", subject=str(path)) from None
    values: dict[str, Any] = {}
    for f in fields(Settings):
        key = f.name.upper()
        raw = env.get(key)
        if raw is None:
            raw = file_values.get(key)
        if raw is not None:
            values[f.name] = _coerce(f.name, f.type, raw)
    return Settings(**values)
