"""The outbox backend: one ``.eml`` file per message, no account needed.

Files go to ``<NEWSLETTER_OUTBOX>/<send id>/<subscriber id>.eml`` (test sends
to ``<NEWSLETTER_OUTBOX>/test-<time>/``). Each file is written to a temporary
name and renamed, so a file that exists is complete; a write that fails
(a full disk) removes its temporary file and stops the run. Each message is
journaled 'sending' before it is written and recorded as soon as its file is
in place (as SMTP does), so a crash leaves in doubt at most the one message
being written.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from newsletter.delivery.base import (
    ACCEPTED,
    RETRY,
    BatchResult,
    Build,
    Journal,
    Mailing,
    MessageBackend,
    Outcome,
    Recipient,
)
from newsletter.errors import DeliveryError


class OutboxBackend(MessageBackend):
    """Writes each message as an ``.eml`` file into ``directory``."""

    name = "outbox"
    max_batch = 500
    reaches_people = False  # files in a folder

    def __init__(self, directory: Path, build: Build) -> None:
        """``build(recipient) -> (message_id, bytes)`` makes each message (see ``MessageFactory.build``)."""
        super().__init__(build)
        self.directory = Path(directory)

    @classmethod
    def from_settings(cls, settings: Any, mailing: Mailing) -> OutboxBackend:
        """Files under ``mailing.outbox_dir``, else ``NEWSLETTER_OUTBOX/<send id>``."""
        from newsletter.delivery.message import message_builder

        build, _sender = message_builder(settings, mailing)
        return cls(mailing.outbox_dir or settings.path("newsletter_outbox") / str(mailing.send_id), build)

    def open(self) -> None:
        """Create the outbox folder."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DeliveryError(f"cannot create outbox folder: {exc.strerror}", subject=str(self.directory)) from None

    def send_batch(self, batch: Sequence[Recipient], journal: Journal) -> BatchResult:
        """Write the files; a write error stops the run (the rest of the batch is not sent)."""
        result = BatchResult()
        for recipient in batch:
            sid = recipient.subscriber_id
            if result.stop is not None:
                result.outcomes.append(Outcome(sid, RETRY, error="not sent: the run stopped"))
                continue
            item = self.build_one(recipient)
            if isinstance(item, Outcome):
                result.outcomes.append(item)
                journal.answered(item)
                continue
            if not journal.handing_over(recipient):
                result.outcomes.append(Outcome(sid, RETRY, error="not sent: claim lost"))
                continue
            outcome, result.stop = self._write(recipient, *item)
            result.outcomes.append(outcome)
            journal.answered(outcome)
        return result

    def _write(self, recipient: Recipient, message_id: str, data: bytes) -> tuple[Outcome, DeliveryError | None]:
        sid = recipient.subscriber_id
        target = self.directory / f"{sid}.eml"
        temporary = target.with_suffix(".eml.tmp")
        try:
            temporary.write_bytes(data)
            os.replace(temporary, target)  # atomic: on failure nothing is in place
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            error = DeliveryError(f"cannot write message file: {exc.strerror or exc}", subject=str(self.directory))
            return Outcome(sid, RETRY, error=str(error)), error
        return Outcome(sid, ACCEPTED, message_id=message_id), None
