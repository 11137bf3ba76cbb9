"""Bounces, complaints and auto-replies read back from the bounce mailbox of SMTP sends.

``fetch(settings, progress=None) -> FetchReport`` reads ``NEWSLETTER_BOUNCE_MAILBOX``
once (``newsletter bounces fetch``; the worker calls it every few minutes).
Part of the tracking room (layer: delivery, tracking): it imports the store
and foundation modules only.
"""

from __future__ import annotations

from newsletter.tracking.bounces.fetching import FetchReport, fetch

__all__ = ["FetchReport", "fetch"]
