"""The one interface every delivery backend implements.

A backend's essential step is ``send_batch(batch, journal)``: send this
batch, return one ``Outcome`` per recipient:

- ``accepted``: the provider took the message;
- ``failed``: the provider refused it for good (the error says why);
- ``retry``: it provably did not go out (refused for now, or never sent
  because the run is stopping) and may be sent later;
- ``in_doubt``: it may or may not have gone out (a lost connection or a
  timeout after the message was handed over, a 5xx answer). The engine never
  re-sends these on its own.

The rule that keeps the ledger exact: ``send_batch`` may raise (a
``NewsletterError``) only before anything of the batch left. After that it
returns an outcome for every recipient, plus ``stop`` when the run must end
(credentials refused, provider unreachable, disk full), and the engine
records them before it stops.

Backends that hand messages over one at a time (``per_message``) call
``journal.handing_over(recipient)`` before each one, so a crash leaves in
doubt only the messages really in flight, and may report each outcome as
soon as it is known with ``journal.answered(outcome)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from newsletter.errors import NewsletterError
from newsletter.personalize import first_name

if TYPE_CHECKING:
    from newsletter.compose.model import ComposeResult
    from newsletter.settings import Settings

ACCEPTED = "accepted"
FAILED = "failed"
RETRY = "retry"
IN_DOUBT = "in_doubt"


class Recipient(NamedTuple):
    """One addressee with the per-recipient values of the message.

    A named tuple rather than a frozen dataclass: a send builds one per
    recipient, and a tuple is made in a third of the time.
    """

    subscriber_id: int
    email: str
    name: str = ""
    unsubscribe_url: str = ""
    web_url: str = ""
    attempt: int = 1  # which hand-over of this message this is (SendGrid's custom_args)
    preferences_url: str = ""
    to_name: str | None = None  # the name in To: when it is not ``name`` (review copies: the reviewer's, none)
    given_first_name: str = ""  # an imported first_name that is not the name's first word ("Mary Ann")
    subject: str = ""  # this recipient's subject when it is not the mailing's (a subject test's variant)

    @property
    def first_name(self) -> str:
        """``%%first_name%%``: the imported first name, else the first word of the name."""
        return self.given_first_name or first_name(self.name)

    @property
    def addressee(self) -> str:
        """The display name of the To: header."""
        return self.name if self.to_name is None else self.to_name

    def values(self) -> dict[str, str]:
        """The values for ``newsletter.personalize`` placeholders."""
        return {
            "name": self.name,
            "first_name": self.first_name,
            "email": self.email,
            "unsubscribe_url": self.unsubscribe_url,
            "web_url": self.web_url,
            "preferences_url": self.preferences_url,
        }


class Outcome(NamedTuple):
    """What became of one recipient's message (a named tuple, like ``Recipient``: one per recipient)."""

    subscriber_id: int
    state: str
    message_id: str = ""
    error: str = ""


@dataclass
class BatchResult:
    """The outcomes of one batch; ``stop`` ends the run once they are recorded."""

    outcomes: list[Outcome] = field(default_factory=list)
    stop: NewsletterError | None = None


class Journal(Protocol):
    """What a per-message backend tells the ledger while a batch is under way."""

    def handing_over(self, recipient: Recipient) -> bool:
        """Journal that this message is handed over now; False: the claim is lost, do not send."""

    def answered(self, outcome: Outcome) -> None:
        """Record one outcome now (optional: ``send_batch`` returns every outcome anyway)."""

    def still_holds(self) -> bool:
        """False once this run no longer holds the send (taken over): hand nothing more over."""


class NoJournal:
    """The journal of sends that are not recorded (review copies, tests)."""

    def handing_over(self, recipient: Recipient) -> bool:
        return True

    def answered(self, outcome: Outcome) -> None:
        pass

    def still_holds(self) -> bool:
        return True


@dataclass(frozen=True)
class Mailing:
    """What a backend is built for, besides the settings: one composed issue going out as one send."""

    result: ComposeResult
    send_id: int  # 0 for review copies (not recorded)
    subject_prefix: str = ""  # '[TEST] ' for review copies
    outbox_dir: Path | None = None  # outbox: where the files go [default: NEWSLETTER_OUTBOX/<send id>]
    attachments: Sequence[Path] = ()  # screenshots attached to review copies
    tracking: bool = False  # open and click tracking by our own server (outbox, SMTP)
    send_at: datetime | None = None  # SendGrid: hold every message until then (a scheduled send)
    batch_id: str = ""  # SendGrid: the batch that cancels a scheduled send
    list_name: str = ""  # the list sent to: its own List-Id and the Feedback-ID's list (none for review copies)


class Backend(ABC):
    """A way of delivering messages. Use as a context manager: ``open`` then ``close``.

    Each backend is one module (``outbox``, ``smtp``, ``sendgrid``) named in
    ``registry.BACKENDS``, and is made by ``from_settings``.
    """

    #: Name used in settings and the ``sends`` table.
    name: str = ""
    #: Most recipients one batch may carry.
    max_batch: int = 1000
    #: True when messages are handed over one at a time (``Journal.handing_over`` per message).
    per_message: bool = False
    #: True when messages reach real people (a send refuses links they could not follow).
    reaches_people: bool = True

    @classmethod  # noqa: B027 (an optional hook: the outbox needs no settings)
    def check_settings(cls, settings: Settings) -> None:
        """``ConfigError`` unless the settings this backend needs can work (nothing is written)."""

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings, mailing: Mailing) -> Backend:
        """The backend for ``mailing``, ready to open (``ConfigError`` for settings that cannot work)."""

    def open(self) -> None:  # noqa: B027 (an optional hook: most backends need no connection)
        """Check configuration and connect; raise ``ConfigError``/``DeliveryError`` before anything is sent."""

    def close(self) -> None:  # noqa: B027 (an optional hook, like open)
        """Release connections."""

    def __enter__(self) -> Backend:
        self.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def prepare(self, batch: list[Recipient]) -> list[Recipient]:
        """Do the work on ``batch`` that needs no I/O; return it (or a list subclass carrying that work).

        The engine calls this on its own thread while other batches are in flight,
        then hands the result to ``send_batch`` on a sending thread: the sending
        threads then hold Python's interpreter lock only briefly, and the ledger's
        writes between batches do not queue behind them.
        """
        return batch

    @abstractmethod
    def send_batch(self, batch: Sequence[Recipient], journal: Journal) -> BatchResult:
        """Send ``batch``; one ``Outcome`` per recipient (see the module doc for the rule on raising)."""


Build = Callable[[Recipient], tuple[str, bytes]]


class MessageBackend(Backend):
    """A backend that sends one finished MIME message per recipient (outbox, SMTP).

    ``build(recipient) -> (message_id, bytes)`` makes each message; when it
    fails (a header with CR/LF, an address that cannot be written), only that
    recipient is refused.
    """

    per_message = True

    def __init__(self, build: Build) -> None:
        self.build = build

    def build_one(self, recipient: Recipient) -> tuple[str, bytes] | Outcome:
        """The recipient's ``(message_id, bytes)``, or the ``failed`` outcome saying why it cannot be built."""
        try:
            return self.build(recipient)
        except NewsletterError as exc:
            return Outcome(recipient.subscriber_id, FAILED, error=str(exc))
        except Exception as exc:  # one message's problem is that message's, never the batch's
            return Outcome(recipient.subscriber_id, FAILED, error=f"cannot build the message: {type(exc).__name__}: {exc}")
