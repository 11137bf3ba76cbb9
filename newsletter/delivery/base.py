"""The one interface every delivery backend implements.

A backend sends one *batch* of recipients at a time: it builds a payload
(``build_payload``), posts it (``post``) and reads the provider's answer into a
normalised ``BatchResult`` (``read_result``), one ``Outcome`` per recipient:

- ``accepted``: the provider took the message;
- ``failed``: the provider refused it for good (the error says why);
- ``retry``: it certainly did not go out and may succeed later (a 4xx, a 429
  or 5xx that outlasted the backend's own retries);
- ``in_doubt``: it may or may not have gone out (killed connection or timeout
  after the request was sent). The engine never re-sends these on its own.

A backend raises ``AuthError`` (credentials refused) or ``DeliveryError``
(cannot reach the provider at all) only when *nothing* of the batch went
out; if part of it went out it returns those outcomes and marks the rest
``retry`` with ``BatchResult.fatal`` set, so the engine can record them and stop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Sequence

from newsletter.errors import NewsletterError

ACCEPTED = "accepted"
FAILED = "failed"
RETRY = "retry"
IN_DOUBT = "in_doubt"
OUTCOMES = (ACCEPTED, FAILED, RETRY, IN_DOUBT)


@dataclass(frozen=True)
class Recipient:
    """One addressee with the per-recipient values of the message."""

    subscriber_id: int
    email: str
    name: str = ""
    unsubscribe_url: str = ""
    web_url: str = ""

    def values(self) -> dict[str, str]:
        """The values for ``newsletter.personalize`` placeholders."""
        return {
            "name": self.name,
            "email": self.email,
            "unsubscribe_url": self.unsubscribe_url,
            "web_url": self.web_url,
        }


@dataclass(frozen=True)
class Outcome:
    """What became of one recipient's message."""

    subscriber_id: int
    state: str
    message_id: str = ""
    error: str = ""


@dataclass
class BatchResult:
    """The normalised answer for one batch; ``fatal`` stops the send after recording it."""

    outcomes: list[Outcome] = field(default_factory=list)
    fatal: NewsletterError | None = None

    def count(self, state: str) -> int:
        """How many outcomes are in ``state``."""
        return sum(1 for o in self.outcomes if o.state == state)


class Backend(ABC):
    """A way of delivering messages. Use as a context manager: ``open`` then ``close``."""

    #: Name used in settings and the ``sends`` table.
    name: str = ""
    #: Most recipients one batch may carry.
    max_batch: int = 1000

    def open(self) -> None:
        """Check configuration and connect; raise ``ConfigError``/``DeliveryError`` before anything is sent."""

    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> "Backend":
        self.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @abstractmethod
    def build_payload(self, batch: Sequence[Recipient]) -> Any:
        """What ``post`` sends for this batch (messages or a request body)."""

    @abstractmethod
    def post(self, batch: Sequence[Recipient], payload: Any) -> Any:
        """Deliver the payload; return the raw answer for ``read_result``."""

    @abstractmethod
    def read_result(self, batch: Sequence[Recipient], answer: Any) -> BatchResult:
        """Turn the raw answer into one ``Outcome`` per recipient."""

    def send_batch(self, batch: Sequence[Recipient]) -> BatchResult:
        """Build, post and read one batch."""
        payload = self.build_payload(batch)
        return self.read_result(batch, self.post(batch, payload))


class MessageBackend(Backend):
    """A backend that sends one finished MIME message per recipient (outbox, SMTP).

    ``build(recipient) -> (message_id, bytes)`` makes each message; it may
    raise a ``NewsletterError`` (a header with CR/LF), which refuses only that
    recipient.
    """

    build: Any

    def build_payload(self, batch: Sequence[Recipient]) -> list[Any]:
        """Each recipient's ``(message_id, bytes)``, or the error that refused it."""
        payload: list[Any] = []
        for recipient in batch:
            try:
                payload.append(self.build(recipient))
            except NewsletterError as exc:
                payload.append(exc)
        return payload
