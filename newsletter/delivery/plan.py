"""The values a send is made of: what the user asked (``SendOptions``), what it
will do (``SendPlan``), what it did (``SendReport``), and a send's state as the
ledger tells it (``Totals``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from newsletter.store.sends import CLAIMED_BACK

#: Pauses before the end-of-run retry rounds for temporary refusals, in seconds.
RETRY_DELAYS = (2.0, 10.0, 30.0)


@dataclass(frozen=True)
class SendOptions:
    """What the user asked of ``newsletter send``."""

    list_name: str
    dry_run: bool = False
    rate: float | None = None  # messages per second; None: NEWSLETTER_RATE
    allow_changed: bool = False
    resend_in_doubt: bool = False
    skip_in_doubt: bool = False
    retry_failed: bool = False
    include_new: bool = False
    where: tuple[str, ...] = ()  # KEY=VALUE / KEY!=VALUE conditions on subscriber attributes
    segment: str | None = None  # a saved segment of the list
    allow_clipping: bool = False  # send HTML larger than Gmail shows whole
    worker: bool = False  # share the send with other worker runs (several processes or hosts)
    retry_delays: Sequence[float] = RETRY_DELAYS


@dataclass(frozen=True)
class Totals:
    """A send's recipients by state, derived from its ledger rows and whether a run is live.

    Rows a dead run left 'sending' count as in doubt and rows it left
    'claimed' as what they were before (pending, in doubt or failed), exactly
    as the next run will treat them.
    """

    recipients: int = 0
    accepted: int = 0
    failed: int = 0
    in_doubt: int = 0
    skipped: int = 0
    suppressed: int = 0
    pending: int = 0
    in_flight: int = 0
    live: bool = False

    @classmethod
    def from_counts(cls, counts: dict[str, Any], live: bool = False) -> Totals:
        """From ledger counts by state (``store.sends.counts`` or a ``list_sends`` row)."""
        n = {k: int(counts.get(k) or 0) for k in ("queued", "claimed", "sending", "accepted", "failed",
                                                  "in_doubt", "skipped", "suppressed")}
        back = {s: 0 if live else int(counts.get(key) or 0) for s, key in CLAIMED_BACK.items()}
        back_in_doubt, back_failed = back["in_doubt"], back["failed"]
        return cls(
            recipients=sum(n.values()),
            accepted=n["accepted"],
            failed=n["failed"] + back_failed,
            in_doubt=n["in_doubt"] + back_in_doubt + (0 if live else n["sending"]),
            skipped=n["skipped"],
            suppressed=n["suppressed"],
            pending=n["queued"] + (0 if live else n["claimed"] - back_in_doubt - back_failed),
            in_flight=(n["claimed"] + n["sending"]) if live else 0,
            live=live,
        )

    @property
    def status(self) -> str:
        """sending (a run is live), done (nothing left to decide) or partial."""
        if self.live:
            return "sending"
        if self.recipients and not (self.pending or self.failed or self.in_doubt):
            return "done"
        return "partial" if self.recipients else "planned"

    def line(self) -> str:
        """The counts as one line of text."""
        text = (f"{self.accepted} accepted, {self.failed} failed, {self.in_doubt} in doubt, "
                f"{self.skipped} skipped, {self.suppressed} suppressed, {self.pending} pending")
        return text + (f", {self.in_flight} in flight" if self.in_flight else "")


@dataclass
class SendPlan:
    """What a send is about to do (shown before confirming)."""

    slug: str
    subject: str
    sender: str
    backend: str
    list_name: str
    options: SendOptions
    audience: str = ""  # the segment's conditions, '' for the whole list
    send_id: int | None = None
    to_send: int = 0  # queued (or, for a new send, the audience) after suppression
    suppressed: int = 0
    already_accepted: int = 0
    in_doubt: int = 0
    failed: int = 0
    settled_accepted: int = 0  # in-doubt rows the provider's events settle
    settled_failed: int = 0
    joined_since: int = 0  # members who joined after the send started
    changed: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Messages this run will try to send."""
        o = self.options
        in_doubt = self.in_doubt - self.settled_accepted - self.settled_failed
        return (self.to_send + (in_doubt if o.resend_in_doubt else 0) + (self.failed if o.retry_failed else 0)
                + (self.joined_since if o.include_new else 0))


@dataclass
class SendReport:
    """The outcome of ``send_issue``: this run's counts and the send's totals from the ledger."""

    plan: SendPlan
    send_id: int | None = None
    accepted: int = 0  # in this run
    failed: int = 0  # in this run
    in_doubt: int = 0  # in this run
    settled: int = 0  # in-doubt rows settled from provider events before sending
    dry_run: bool = False
    cancelled: bool = False
    interrupted: bool = False
    totals: Totals = field(default_factory=Totals)
    failures: list[tuple[str, str]] = field(default_factory=list)
    in_doubt_sample: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The send's status after this run."""
        return self.totals.status

    @property
    def ok(self) -> bool:
        """True when every recipient is accepted, skipped or suppressed, and nothing is pending.

        A worker that finished while other workers still send the rest is ok
        if nothing has failed or is in doubt.
        """
        t = self.totals
        shared = self.plan.options.worker and t.live and not (t.failed or t.in_doubt or t.pending)
        return (self.status == "done" or shared) and not self.cancelled and not self.interrupted
