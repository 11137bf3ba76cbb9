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

from newsletter.errors import ConfigError

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
    # --- store and delivery ----------------------------------------------
    newsletter_database: str = field(default="newsletter.db", repr=False)  # a PostgreSQL URL may hold a password
    newsletter_backend: str = "outbox"
    newsletter_outbox: str = "outbox"
    newsletter_public_url: str = "http://127.0.0.1:8000"
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
    # --- audience: signup, consent, erasure ------------------------------
    newsletter_consent_text: str = "Yes, send me this newsletter by email. I can unsubscribe at any time."
    newsletter_signup_origins: str = ""
    newsletter_signup_ip: str = "hashed"
    newsletter_confirm_hours: int = 48
    newsletter_confirm_interval_minutes: int = 60
    newsletter_pending_days: int = 7
    newsletter_signup_limit_ip: int = 20
    newsletter_signup_limit_address: int = 3

    # --- dashboard -----------------------------------------------------------
    newsletter_admin_token: str = _secret()
    newsletter_admin_users: str = _secret()  # name:sha256-hex-of-password, comma-separated
    newsletter_admin_signin_limit: int = 10

    # --- release: approvals and scheduling ------------------------------
    newsletter_required_approvals: int = 0
    newsletter_allowed_signers: str = ""
    newsletter_timezone: str = ""
    newsletter_sendgrid_send_at: bool = True
    newsletter_worker_poll_seconds: float = 30.0

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


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_POSITIVE = ("newsletter_database_timeout", "newsletter_lease_seconds", "smtp_timeout", "sendgrid_timeout",
             "newsletter_worker_poll_seconds")


def _url(name: str, value: str, *, required: bool) -> None:
    from urllib.parse import urlsplit

    if not value.strip():
        if required:
            raise ConfigError("must be set to an absolute URL such as https://news.example.org", subject=name.upper())
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"must be an absolute http:// or https:// URL, got {value!r}", subject=name.upper())


def validate(settings: Settings) -> None:
    """Refuse settings that would break messages, before anything is written (``ConfigError``)."""
    for f in fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, str) and _CONTROL.search(value):
            raise ConfigError("contains a line break or another control character", subject=f.name.upper())
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"must be a finite number, got {value!r}", subject=f.name.upper())
    _url("newsletter_public_url", settings.newsletter_public_url, required=True)
    _url("sendgrid_api_url", settings.sendgrid_api_url, required=True)
    _url("newsletter_site_url", settings.newsletter_site_url, required=False)
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
    _admin(settings)
    if settings.newsletter_timezone:
        from newsletter.release.when import zone

        zone(settings.newsletter_timezone, subject="NEWSLETTER_TIMEZONE")


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

    ``env_file`` defaults to ``NEWSLETTER_ENV_FILE`` or ``./.env``; a missing
    file is fine, an unreadable one is a ``ConfigError``.
    """
    env = dict(os.environ if environ is None else environ)
    path = Path(env_file or env.get("NEWSLETTER_ENV_FILE") or ".env")
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
