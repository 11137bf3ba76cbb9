"""The delivery backends by name: each is one module, loaded only when it is used.

``NEWSLETTER_BACKEND`` (or ``send --backend``) names one of ``BACKENDS``;
``make_backend`` builds it from the settings for one ``Mailing``. A new
backend is a module with a ``Backend`` subclass (``delivery/base.py``) and a
line here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from newsletter.errors import ConfigError

if TYPE_CHECKING:
    from newsletter.delivery.base import Backend, Mailing
    from newsletter.settings import Settings

#: Backend name -> "module:class".
BACKENDS = {
    "outbox": "newsletter.delivery.outbox:OutboxBackend",
    "smtp": "newsletter.delivery.smtp:SMTPBackend",
    "sendgrid": "newsletter.delivery.sendgrid:SendGridBackend",
}


def backend_class(name: str) -> type[Backend]:
    """The class of backend ``name`` (``ConfigError`` naming the setting for an unknown one)."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r} (choose {', '.join(BACKENDS)})", subject="NEWSLETTER_BACKEND")
    module, _, cls = BACKENDS[name].partition(":")
    found: type[Backend] = getattr(importlib.import_module(module), cls)
    return found


def check_backend(name: str, settings: Settings) -> None:
    """``ConfigError`` unless backend ``name`` exists and its settings can work (nothing is written)."""
    backend_class(name).check_settings(settings)


def make_backend(name: str, settings: Settings, mailing: Mailing) -> Backend:
    """Backend ``name`` built for ``mailing``, ready to open (``ConfigError`` for settings that cannot work)."""
    cls = backend_class(name)
    cls.check_settings(settings)
    return cls.from_settings(settings, mailing)
