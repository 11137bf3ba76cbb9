"""The outbox backend: one ``.eml`` file per message, no account needed.

Files go to ``<NEWSLETTER_OUTBOX>/<send id>/<subscriber id>.eml`` (test sends
to ``<NEWSLETTER_OUTBOX>/test-<time>/``). Each file is written to a temporary
name and renamed, so a file that exists is complete.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from newsletter.delivery.base import ACCEPTED, FAILED, RETRY, BatchResult, MessageBackend, Outcome, Recipient
from newsletter.errors import DeliveryError, NewsletterError


class OutboxBackend(MessageBackend):
    """Writes each message as an ``.eml`` file into ``directory``."""

    name = "outbox"
    max_batch = 500

    def __init__(self, directory: Path, build) -> None:
        """``build(recipient) -> (message_id, bytes)`` makes each message (see ``MessageFactory.build``)."""
        self.directory = Path(directory)
        self.build = build

    def open(self) -> None:
        """Create the outbox folder."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DeliveryError(f"cannot create outbox folder: {exc.strerror}", subject=str(self.directory)) from None

    def post(self, batch: Sequence[Recipient], payload: list[Any]) -> BatchResult:
        """Write the files; a write error stops the batch (the rest is marked for retry)."""
        result = BatchResult()
        outcomes = result.outcomes
        for recipient, item in zip(batch, payload):
            if result.fatal is not None:
                outcomes.append(Outcome(recipient.subscriber_id, RETRY, error=str(result.fatal)))
                continue
            if isinstance(item, NewsletterError):
                outcomes.append(Outcome(recipient.subscriber_id, FAILED, error=str(item)))
                continue
            message_id, data = item
            target = self.directory / f"{recipient.subscriber_id}.eml"
            temporary = target.with_suffix(".eml.tmp")
            try:
                temporary.write_bytes(data)
                os.replace(temporary, target)
            except OSError as exc:
                result.fatal = DeliveryError(f"cannot write message file: {exc.strerror}", subject=str(target))
                outcomes.append(Outcome(recipient.subscriber_id, RETRY, error=str(result.fatal)))
                continue
            outcomes.append(Outcome(recipient.subscriber_id, ACCEPTED, message_id=message_id))
        return result

    def read_result(self, batch: Sequence[Recipient], answer: BatchResult) -> BatchResult:
        """The outcomes as written."""
        return answer
