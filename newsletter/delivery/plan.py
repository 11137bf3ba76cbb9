"""The values a send is made of: what the user asked (``SendOptions``), what it
will do (``SendPlan``) and what it did (``SendReport``). A send's state as the
ledger tells it is ``store.ledger.Totals``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from newsletter.store.ledger import Totals
from newsletter.store.segments import Audience
from newsletter.store.subject_tests import SubjectTest

#: ``progress(done, total, counts)``: called after every batch of a run.
Progress = Callable[[int, int, dict[str, int]], None]

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
    at: str | None = None  # --at: send at this time (scheduled), not now
    tz: str | None = None  # --tz: the zone of --at [default: NEWSLETTER_TIMEZONE]
    non_readers_of: int | None = None  # --to-non-readers-of: a resend to who did not read this send
    subject: str | None = None  # --subject: this send's subject instead of the (a resend)
    after: str | None = None  # --after: schedule a resend this long after its source send finished
    test: SubjectTest | None = None  # --subject-b/--test/--wait/--pick: a subject test, fixed when the send starts


@dataclass(frozen=True)
class Controls:
    """How the caller takes part in a send: ``confirm`` the plan before anything is written (``None``: yes;
    ``send`` asks ``confirm(plan)``, a schedule ``confirm(plan, moment, route)``), follow its ``progress``, and
    set ``stop`` to end the run after the batches in flight."""

    confirm: Callable[..., bool] | None = None
    progress: Progress | None = None
    stop: threading.Event | None = None


@dataclass
class SendPlan:
    """What a send is about to do (shown before confirming)."""

    slug: str
    subject: str
    sender: str
    backend: str
    list_name: str
    options: SendOptions
    audience: Audience = field(default_factory=Audience)  # the list, and the segment's or --where conditions
    send_id: int | None = None
    to_send: int = 0  # queued (or, for a new send, the audience) after suppression
    suppressed: int = 0
    already_accepted: int = 0
    in_doubt: int = 0
    failed: int = 0
    settled_accepted: int = 0  # in-doubt rows the provider's events settle
    settled_failed: int = 0
    joined_since: int = 0  # members who joined after the send started
    in_flight: int = 0  # rows another live run (a worker) holds right now: neither pending nor in doubt
    source_accepted: int = 0  # a resend: how many its source send reached (the non-readers are among them)
    changed: bool = False
    warnings: list[str] = field(default_factory=list)
    held: int = 0  # a subject test's rest, waiting for the pick (not sent by this run)

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
        """True when every recipient is accepted, skipped or suppressed, and nothing is pending (or only a
        subject test's rest, held for its pick).

        A worker that finished while other workers still send the rest is ok
        if nothing has failed or is in doubt.
        """
        t = self.totals
        shared = self.plan.options.worker and t.live and not (t.failed or t.in_doubt or t.pending)
        settled = self.status == "done" or (self.status == "testing" and not (t.failed or t.in_doubt))
        return (settled or shared) and not self.cancelled and not self.interrupted
