"""How the harness sizes the engine: small batches, so a small audience makes many
requests (and many places for a fault to land), and end-of-run retry rounds
without a pause. Nothing else of the engine is touched."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from unittest import mock

#: Pauses before the end-of-run retry rounds of temporary refusals (the CLI's are 2, 10 and 30 s).
RETRY_DELAYS = (0.0, 0.0)


@contextmanager
def tuned(batch: int) -> Iterator[None]:
    """Within the block, backends take at most ``batch`` recipients a batch and retry rounds start at once."""
    from newsletter.delivery import plan
    from newsletter.delivery.sendgrid import SendGridBackend
    from newsletter.delivery.smtp import SMTPBackend

    @dataclass(frozen=True)
    class QuickRetries(plan.SendOptions):
        retry_delays: Sequence[float] = RETRY_DELAYS

    with ExitStack() as stack:
        for backend in (SendGridBackend, SMTPBackend):
            stack.enter_context(mock.patch.object(backend, "max_batch", batch))
        stack.enter_context(mock.patch.object(plan, "SendOptions", QuickRetries))
        yield
