"""What ``send_issue`` lets a caller add to a send (``newsletter.release`` implements it).

Three points, each called once per send:

- ``check`` after the plan is made, before anything is written (dry runs
  included): raise a ``NewsletterError`` to refuse (too few approvals for
  this build, the send is scheduled, paused or cancelled);
- ``run_started`` once the run holds the send's lease: record the start and
  return the stop event the run loop checks between batches (it may also be
  set by a pause in the store);
- ``mailing`` before the backend is built: return the mailing as it is, or
  with ``send_at`` and a ``batch_id`` (SendGrid holds the messages until then).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from newsletter.compose.model import ComposeResult
    from newsletter.delivery.base import Mailing
    from newsletter.delivery.plan import SendPlan


class SendHooks(Protocol):
    """Extra checks and controls around one send (see the module doc)."""

    def check(self, conn: Any, plan: SendPlan, result: ComposeResult, list_id: int) -> None:
        """Refuse the send by raising; called before anything is written (``plan.audience`` is resolved)."""

    def run_started(self, conn: Any, send_id: int, stop: threading.Event) -> threading.Event:
        """The run of ``send_id`` holds its lease: record it; return the event the run loop checks."""

    def mailing(self, mailing: Mailing) -> Mailing:
        """The mailing the backend is built for (``mailing`` itself, or with a SendGrid schedule)."""
