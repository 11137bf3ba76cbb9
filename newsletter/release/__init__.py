"""Release: approve the exact build, schedule it, pause, resume or cancel it.

- ``build``: the build identity (a hash over what subscribers receive and to whom);
- ``approvals``: the approvals file beside an issue, optionally SSH-signed (``ssh``);
- ``gate``: what a send checks before it starts (approvals, schedule, pause), as the
  engine's ``SendHooks``;
- ``schedule``: ``send --at``, ``cancel``, ``pause``, ``resume`` and ``sends`` with times;
- ``worker``: starts due sends, one worker per send;
- ``sendgrid_batches``: SendGrid's batch ids and scheduled-sends API.
"""

from __future__ import annotations

from newsletter.errors import NewsletterError


class ReleaseRefused(NewsletterError):
    """A send may not start: too few approvals for this build, or it is scheduled, paused or cancelled."""
