"""The one exception tree of the project.

Library code raises these; the CLI turns any of them into a single line on
stderr and an exit status, so a user never sees a traceback. Each error says
*what* (the thing: a file, a setting, a provider) and *why*.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitStatus(IntEnum):
    """Every exit status of the ``newsletter`` command (the README has the table)."""

    OK = 0  # everything asked for was done
    ERROR = 1  # an operational failure: provider down, database or disk trouble, a send already running
    USAGE = 2  # bad usage, input or settings
    INCOMPLETE = 3  # a send ended with recipients failed, in doubt or still pending
    INTERNAL = 70  # a bug in the tool (sysexits' EX_SOFTWARE)
    INTERRUPTED = 130  # Ctrl-C or SIGTERM


class NewsletterError(Exception):
    """Root of every error the tool reports to a user.

    ``subject`` names the thing at fault (a path, a setting, a backend);
    ``context`` carries extra facts, such as a provider's HTTP status and body,
    for callers and logs. ``exit_code`` is what the CLI exits with.
    """

    exit_code: int = ExitStatus.ERROR

    def __init__(self, message: str, *, subject: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.subject = subject
        self.context = context

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}" if self.subject else self.message


class InputError(NewsletterError):
    """The user's input (an issue file, a CSV, an argument) is unusable."""

    exit_code = ExitStatus.USAGE


class ConfigError(NewsletterError):
    """A setting is missing or invalid (see ``.env.example``)."""

    exit_code = ExitStatus.USAGE


class LayoutError(InputError):
    """A layout template could not be rendered or compiled."""


class StoreError(NewsletterError):
    """The database refused an operation (locked, read-only, full) or is in an unexpected state."""


class OutputError(NewsletterError):
    """A file could not be written (the disk is full, no permission): an operational failure, exit 1."""


class BusyError(NewsletterError):
    """Another process is doing this right now (a run holds the send's lease)."""


class HeaderError(InputError):
    """A header value would carry CR/LF or another control character."""


class DeliveryError(NewsletterError):
    """A backend could not deliver; ``context`` may hold the provider's answer."""


class AuthError(DeliveryError):
    """The provider refused our credentials (stop at once, do not retry)."""

    exit_code = ExitStatus.USAGE
