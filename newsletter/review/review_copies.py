"""Test sends: reviewers get the message subscribers would get, marked ``[TEST]``, with sample values.

They go through the configured backend, and nothing is recorded as a send:
no ledger row, no lease, no audience.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from newsletter.delivery.base import ACCEPTED, Outcome
from newsletter.errors import InputError
from newsletter.settings import Settings

#: What the subject of every review copy starts with.
TEST_PREFIX = "[TEST] "


@dataclass
class ReviewSendReport:
    """What ``send_review_copies`` did."""

    recipients: list[str]
    backend: str
    subject: str
    outcomes: list[Outcome]
    where: str = ""
    screenshots: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what a real send would refuse (a local public URL)

    @property
    def ok(self) -> bool:
        """True when every review copy was accepted."""
        return all(o.state == ACCEPTED for o in self.outcomes)


def send_review_copies(
    path: str | Path,
    settings: Settings,
    *,
    to: Sequence[str] = (),
    screenshots: bool = False,
) -> ReviewSendReport:
    """Send reviewers the message subscribers would get, subject prefixed ``[TEST] ``, with sample values.

    Goes through the configured backend; nothing is recorded as a send. Each copy is addressed to the
    reviewer's own address alone (no sample name in To:); the body's placeholders get the sample values.
    A public URL that a real send would refuse is a warning here.
    """
    from newsletter.compose import compose_checked
    from newsletter.delivery.base import Mailing, NoJournal, Recipient
    from newsletter.delivery.registry import make_backend
    from newsletter.delivery.send import public_url_warning
    from newsletter.email_validation import normalize_email
    from newsletter.personalize import SAMPLE_VALUES

    addresses = [normalize_email(a) for a in (list(to) or settings.reviewers)]
    if not addresses:
        raise InputError("no reviewers: pass --to EMAIL or set NEWSLETTER_REVIEWERS")
    result = compose_checked(path, settings, allow_errors=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    attachments: list[Path] = []
    if screenshots:
        from newsletter.review.screenshots import capture

        attachments = list(capture(result, settings.path("newsletter_build_dir") / "test-send" / stamp))
    outbox_dir = settings.path("newsletter_outbox") / f"test-{stamp}"
    mailing = Mailing(result, 0, subject_prefix=TEST_PREFIX, outbox_dir=outbox_dir, attachments=attachments)
    backend = make_backend(settings.newsletter_backend, settings, mailing)
    # The To: header is the reviewer's own address; the sample subscriber's name fills only the body.
    batch = [
        Recipient(i, email, SAMPLE_VALUES["name"], SAMPLE_VALUES["unsubscribe_url"],
                  result.issue.web_url or SAMPLE_VALUES["web_url"], preferences_url=SAMPLE_VALUES["preferences_url"],
                  to_name="")
        for i, email in enumerate(addresses, start=1)
    ]
    with backend:
        outcome = backend.send_batch(batch, NoJournal())
    return ReviewSendReport(
        recipients=addresses,
        backend=settings.newsletter_backend,
        subject=TEST_PREFIX + result.issue.subject,
        outcomes=outcome.outcomes,
        where=str(outbox_dir) if settings.newsletter_backend == "outbox" else "",
        screenshots=attachments,
        warnings=[w for w in [public_url_warning(settings.newsletter_backend, settings)] if w],
    )
