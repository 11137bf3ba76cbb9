"""SendGrid's scheduled sends: a batch id, ``send_at`` on every request, and cancelling the batch.

The SendGrid backend puts ``send_at`` and ``batch_id`` on every request when
its ``Mailing`` carries them (``ReleaseHooks.mailing`` sets them); this module
holds the window's rules and the batch API.

SendGrid accepts ``send_at`` up to 72 hours ahead and releases the messages
at that minute. Every request of one send carries the same ``batch_id``, so
the whole send can be cancelled with one call to the scheduled-sends API –
which SendGrid honours only until 10 minutes before ``send_at``; past that
point ``cancel`` refuses and nothing is cancelled.
"""

from __future__ import annotations

import json
import urllib.error
from datetime import datetime, timedelta
from typing import Any

from newsletter.errors import DeliveryError
from newsletter.settings import Settings

#: How far ahead SendGrid accepts ``send_at``.
WINDOW = timedelta(hours=72)
#: Handing a send over takes time; only schedule times comfortably inside the window use it.
WINDOW_MARGIN = timedelta(minutes=30)
#: SendGrid cancels or pauses a batch only until this long before ``send_at``.
CANCEL_CUTOFF = timedelta(minutes=10)


def within_window(send_at: datetime, now: datetime) -> bool:
    """Whether ``send_at`` is close enough for SendGrid to hold the batches until then."""
    return now < send_at <= now + WINDOW - WINDOW_MARGIN


def _errors(body: bytes | None) -> str:
    try:
        found = json.loads(body or b"{}").get("errors") or []
        return "; ".join(str(e.get("message", "")) for e in found if isinstance(e, dict)) or "no details"
    except (ValueError, AttributeError):
        return (body or b"").decode("utf-8", "replace")[:200] or "no details"


class BatchAPI:
    """SendGrid's batch-id and scheduled-sends endpoints."""

    def __init__(self, settings: Settings) -> None:
        from sendgrid import SendGridAPIClient

        from newsletter.delivery.sendgrid import check_settings

        check_settings(settings)
        self.url = settings.sendgrid_api_url.rstrip("/")
        self.timeout = settings.sendgrid_timeout
        self.client = SendGridAPIClient(api_key=settings.sendgrid_api_key, host=self.url).client

    def _call(self, what: str, request: Any, **kwargs: Any) -> Any:
        from python_http_client.exceptions import HTTPError

        try:
            return request(timeout=self.timeout, **kwargs)
        except HTTPError as exc:
            raise DeliveryError(f"SendGrid refused to {what} (HTTP {exc.status_code}): {_errors(exc.body)}",
                                subject=self.url) from None
        except (urllib.error.URLError, OSError) as exc:
            raise DeliveryError(f"cannot reach SendGrid to {what}: {exc}", subject=self.url) from None

    def create_batch(self) -> str:
        """A new batch id."""
        response = self._call("create a batch id", self.client.mail.batch.post)
        batch_id = str(json.loads(response.body or b"{}").get("batch_id", ""))
        if not batch_id:
            raise DeliveryError("SendGrid answered without a batch id", subject=self.url)
        return batch_id

    def cancel(self, batch_id: str) -> None:
        """Cancel every message of the batch (``DeliveryError`` if SendGrid refuses)."""
        self._call("cancel the scheduled send", self.client.user.scheduled_sends.post,
                   request_body={"batch_id": batch_id, "status": "cancel"})
