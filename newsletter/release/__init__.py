"""Release: approve the exact build, send it now or at a time, pause, resume or cancel it.

- ``approvals`` and ``approve``: the approvals file beside an issue, optionally SSH-signed
  (``ssh``); the build they name is ``compose.build``'s;
- ``members``: who an audience reaches now, and how that changed since an approval;
- ``gate``: what a send checks before it starts (approvals, schedule, pause), as
  ``delivery.hooks.SendHooks``;
- ``schedule``: ``send`` now or ``send --at`` (``when`` reads the time), and how a run ended;
- ``controls``: ``cancel``, ``pause``, ``resume`` and the ``sends`` listing with times;
- ``worker``: starts due sends, one worker per send;
- ``sendgrid_batches``: SendGrid's 72-hour window and its batch and scheduled-sends API.
"""

from __future__ import annotations

from newsletter.errors import NewsletterError


class ReleaseRefused(NewsletterError):
    """A send may not start: too few approvals for this build, or it is scheduled, paused or cancelled."""
