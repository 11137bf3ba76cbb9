"""The send loop: plan, journal, send in batches, resume — each recipient exactly once.

``send_issue`` is the one entry point of ``newsletter send``:

1. compose the issue (refuse if its checks have errors), check settings and
   the backend (an API key, an SMTP login) before anything is written;
2. find or create the ``sends`` row for (issue, list); refuse a changed
   issue after a partial send unless ``allow_changed``;
3. show the plan to ``confirm``; on yes, turn rows a killed run left
   'sending' into 'in_doubt' (left alone unless ``resend_in_doubt`` or
   ``skip_in_doubt``);
4. per batch: journal the recipients as 'sending' in one transaction, send,
   record the outcomes in one transaction. Recipients stream from the
   database by keyset pagination, so memory does not grow with the list.

Temporary refusals (SMTP 4xx, SendGrid 429/5xx that outlasted the backend's
own retries) are recorded as failed and retried a few times at the end of
the run; what still fails stays 'failed' for ``--retry-failed``.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from newsletter.delivery.base import ACCEPTED, FAILED, IN_DOUBT, RETRY, Backend, BatchResult, Outcome, Recipient
from newsletter.errors import ConfigError, DeliveryError, InputError, NewsletterError
from newsletter.settings import Settings

BACKENDS = ("outbox", "smtp", "sendgrid")
#: Pauses before the end-of-run retry rounds for temporary refusals, in seconds.
RETRY_DELAYS = (2.0, 10.0, 30.0)

Progress = Callable[[int, int, dict[str, int]], None]


@dataclass
class SendPlan:
    """What a send is about to do (shown before confirming)."""

    slug: str
    subject: str
    sender: str
    backend: str
    list_name: str
    to_send: int  # recipients still without a journal row, after suppression
    suppressed: int
    already_accepted: int = 0
    in_doubt: int = 0
    failed: int = 0
    send_id: int | None = None
    changed: bool = False
    warnings: list[str] = field(default_factory=list)
    resend_in_doubt: bool = False
    retry_failed: bool = False
    skip_in_doubt: bool = False

    @property
    def total(self) -> int:
        """Messages this run will try to send."""
        return self.to_send + (self.in_doubt if self.resend_in_doubt else 0) + (self.failed if self.retry_failed else 0)


@dataclass
class SendReport:
    """The outcome of ``send_issue``."""

    plan: SendPlan
    send_id: int | None = None
    accepted: int = 0  # in this run
    failed: int = 0  # failed in this run
    in_doubt: int = 0  # in doubt now (this run or left from before)
    skipped: int = 0  # suppressed members plus in-doubt recipients the user skipped
    dry_run: bool = False
    cancelled: bool = False
    status: str = ""
    totals: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)
    in_doubt_sample: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed and nothing is in doubt."""
        return not self.failed and not self.in_doubt and not self.cancelled


def make_backend(
    name: str,
    settings: Settings,
    result: Any,
    *,
    send_id: int,
    subject_prefix: str = "",
    outbox_dir: Path | None = None,
    attachments: Sequence[Path] = (),
    tracking: bool = False,
) -> Backend:
    """A ready-to-open backend for one issue (``ConfigError`` for missing credentials)."""
    from newsletter.delivery.message import MessageFactory, shared_headers, with_attachments

    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r} (choose {', '.join(BACKENDS)})", subject="NEWSLETTER_BACKEND")
    if name == "sendgrid":
        from newsletter.delivery.sendgrid import SendGridBackend

        headers = shared_headers(result, settings, subject_prefix=subject_prefix)
        return SendGridBackend(settings, result, headers, send_id=send_id, attachments=attachments)
    rewriter = _tracking_rewriter(result, settings, send_id) if tracking else None
    factory = MessageFactory(result, settings, send_id=send_id, subject_prefix=subject_prefix, tracking=rewriter)
    def build_with_attachments(recipient: Recipient) -> tuple[str, bytes]:
        message_id, data = factory.build(recipient)
        return message_id, with_attachments(data, attachments)

    build = build_with_attachments if attachments else factory.build
    if name == "smtp":
        from newsletter.delivery.smtp import SMTPBackend

        return SMTPBackend(settings, build, factory.headers.from_email)
    from newsletter.delivery.outbox import OutboxBackend

    return OutboxBackend(outbox_dir or settings.path("newsletter_outbox") / str(send_id), build)


def _tracking_rewriter(result: Any, settings: Settings, send_id: int) -> Any:
    # Open and click tracking for outbox/SMTP (SendGrid tracks on its own).
    from newsletter.tracking.instrument import TrackingRewriter

    return TrackingRewriter(
        result.html,
        result.web_links,
        public_url=settings.newsletter_public_url,
        secret_key=settings.newsletter_secret_key,
        send_id=send_id,
    )


def compose_checked(path: str | Path, settings: Settings, *, allow_errors: bool = False) -> Any:
    """Compose an issue; ``InputError`` naming its first check errors unless ``allow_errors``."""
    from newsletter.compose import compose_issue

    result = compose_issue(Path(path), settings)
    if result.errors and not allow_errors:
        shown = "; ".join(str(f) for f in result.errors[:3])
        more = f" (and {len(result.errors) - 3} more)" if len(result.errors) > 3 else ""
        raise InputError(f"the issue has {len(result.errors)} check error(s), not sending: {shown}{more}", subject=str(path))
    return result


def send_issue(
    path: str | Path,
    list_name: str,
    settings: Settings,
    *,
    confirm: Callable[[SendPlan], bool] | None = None,
    progress: Progress | None = None,
    dry_run: bool = False,
    rate: float | None = None,
    allow_changed: bool = False,
    resend_in_doubt: bool = False,
    skip_in_doubt: bool = False,
    retry_failed: bool = False,
    retry_delays: Sequence[float] = RETRY_DELAYS,
    result: Any = None,
) -> SendReport:
    """Send issue ``path`` to list ``list_name`` exactly once per recipient (see the module doc).

    ``confirm(plan)`` is asked before anything is written (``None``: yes);
    ``progress(done, total, counts)`` is called after every batch. ``result``
    may carry an already composed issue.
    """
    from newsletter import tokens
    from newsletter.store import connect
    from newsletter.store import sends as journal
    from newsletter.store import subscribers as people

    if resend_in_doubt and skip_in_doubt:
        raise InputError("choose either --resend-in-doubt or --skip-in-doubt, not both")
    backend_name = settings.newsletter_backend
    if backend_name not in BACKENDS:
        raise ConfigError(f"unknown backend {backend_name!r} (choose {', '.join(BACKENDS)})", subject="NEWSLETTER_BACKEND")
    tokens.require_key(settings.newsletter_secret_key)  # before anything is composed or written
    if result is None:
        result = compose_checked(path, settings)
    elif result.errors:
        raise InputError(f"the issue has {len(result.errors)} check error(s), not sending", subject=str(path))
    slug = result.issue.slug
    tracking = settings.newsletter_tracking and backend_name != "sendgrid"

    conn = connect(settings.newsletter_database)
    lock = _send_lock(settings.newsletter_database)
    try:
        list_id = people.find_list(conn, list_name)
        if list_id is None:
            raise InputError("no such list (see `newsletter lists`)", subject=list_name)
        existing = journal.find_send(conn, slug, list_id)
        plan = SendPlan(
            slug=slug,
            subject=result.issue.subject,
            sender=result.sender or settings.newsletter_from,
            backend=backend_name,
            list_name=list_name,
            to_send=0,
            suppressed=0,
            warnings=[str(w) for w in result.warnings],
            resend_in_doubt=resend_in_doubt,
            retry_failed=retry_failed,
            skip_in_doubt=skip_in_doubt,
        )
        if existing is None:
            plan.to_send, plan.suppressed = journal.count_active_members(conn, list_id)
        else:
            plan.send_id = existing["id"]
            plan.to_send, plan.suppressed = journal.pending_counts(conn, existing["id"], list_id)
            counts = journal.delivery_counts(conn, existing["id"])
            plan.already_accepted = counts["accepted"]
            plan.in_doubt = counts["in_doubt"] + counts["sending"]
            plan.failed = counts["failed"]
            started = sum(counts.values()) > 0
            plan.changed = existing["html_sha256"] != result.html_sha256
            if plan.changed and started and not allow_changed:
                raise InputError(
                    f"the issue changed since it was partly sent to {list_name!r} "
                    f"({plan.already_accepted} accepted); pass --allow-changed to send the new version to the rest",
                    subject=str(path),
                )
        # Build the backend before writing anything: missing credentials stop here.
        backend = make_backend(backend_name, settings, result, send_id=plan.send_id or 0, tracking=tracking)
        report = SendReport(plan=plan, send_id=plan.send_id, skipped=plan.suppressed)
        if dry_run:
            report.dry_run = True
            return report
        if confirm is not None and not confirm(plan):
            report.cancelled = True
            return report
        created = plan.send_id is None
        if created:
            plan.send_id = journal.create_send(
                conn, slug=slug, html_sha256=result.html_sha256, list_id=list_id,
                backend=backend_name, subject=result.issue.subject, links=result.web_links,
            )
        elif plan.changed or existing["backend"] != backend_name:
            journal.update_send_version(
                conn, plan.send_id, html_sha256=result.html_sha256, subject=result.issue.subject,
                links=result.web_links, backend=backend_name,
            )
        report.send_id = plan.send_id
        try:
            # The send id is part of every message (tokens, Message-ID, outbox folder).
            backend = make_backend(backend_name, settings, result, send_id=plan.send_id, tracking=tracking)
            with backend:
                _run(conn, backend, settings, result, plan, report, list_id, progress, rate, retry_delays)
        except BaseException:
            # Leave no trace of a send that never sent anything (a wrong
            # password, an unreachable host, a refused API key).
            if not (created and journal.delete_send_if_empty(conn, plan.send_id)):
                journal.refresh_send(conn, plan.send_id, status="partial")
            raise
        return report
    finally:
        lock.close()
        conn.close()


def _send_lock(database: str | Path):
    """Hold an exclusive lock so only one ``send`` runs on a database at a time.

    A second ``send`` would take the first one's batch in flight ('sending')
    for what a killed run left behind and mark it in doubt. ``flock`` is
    released by the kernel when its holder exits, even by SIGKILL, so a
    crash never leaves a stale lock. Returns the open lock file; close it to
    release.
    """
    import fcntl

    handle = open(f"{database}.send-lock", "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DeliveryError(
            "another `newsletter send` is running on this database; wait for it to finish",
            subject=str(database),
        ) from None
    return handle


def _run(conn, backend: Backend, settings: Settings, result: Any, plan: SendPlan, report: SendReport,
         list_id: int, progress: Progress | None, rate: float | None, retry_delays: Sequence[float]) -> None:
    from newsletter import tokens
    from newsletter.store import sends as journal

    send_id = plan.send_id
    journal.start_run(conn, send_id)
    if plan.skip_in_doubt:
        report.skipped += journal.skip_in_doubt(conn, send_id)
    rate = settings.newsletter_rate if rate is None else rate
    size = backend.max_batch if not rate else max(1, min(backend.max_batch, int(rate)))
    web_url = result.issue.web_url or ""
    public, key = settings.newsletter_public_url, settings.newsletter_secret_key
    counts = {ACCEPTED: 0, FAILED: 0, IN_DOUBT: 0}
    temporary: list[int] = []  # refused for now; retried at the end
    started = time.monotonic()
    done = 0
    total = plan.total
    batch_no = journal.next_batch_number(conn, send_id) - 1

    def recipients(rows) -> list[Recipient]:
        return [
            Recipient(sid, email, name, tokens.unsubscribe_url(public, key, sid, send_id), web_url)
            for sid, email, name in rows
        ]

    def run_batch(rows, restore: str | None, number: int) -> None:
        nonlocal done
        batch = recipients(rows)
        try:
            outcome = backend.send_batch(batch)
        except NewsletterError:
            # Raised only when nothing of the batch went out (see base.py).
            journal.release(conn, send_id, [r.subscriber_id for r in batch], restore=restore)
            raise
        except BaseException:
            # A bug or Ctrl-C mid-batch: we cannot know what went out.
            journal.finish_batch(conn, send_id, [(r.subscriber_id, IN_DOUBT, "", "interrupted while sending") for r in batch])
            raise
        _record(conn, send_id, outcome, counts, temporary, restore, number)
        done += len(batch)
        if progress is not None:
            progress(done, total, dict(counts))
        if outcome.fatal is not None:
            raise outcome.fatal
        if rate:
            ahead = done / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)

    # Re-sends the user asked for first, then everyone without a journal row;
    # each claim journals its batch as 'sending' before it goes out.
    claims = [
        (state, functools.partial(journal.claim_existing, conn, send_id, state))
        for state, wanted in (("in_doubt", plan.resend_in_doubt), ("failed", plan.retry_failed))
        if wanted
    ]
    claims.append((None, functools.partial(journal.claim_new, conn, send_id, list_id)))
    for restore, claim in claims:
        after = 0
        while True:
            batch_no += 1
            rows = claim(after_id=after, limit=size, batch=batch_no)
            if not rows:
                break
            after = rows[-1][0]
            run_batch(rows, restore, batch_no)

    for delay in retry_delays:
        if not temporary:
            break
        time.sleep(delay)
        ids, temporary[:] = sorted(temporary), []
        counts[FAILED] -= len(ids)
        for start in range(0, len(ids), size):
            batch_no += 1
            rows = journal.claim_ids(conn, send_id, ids[start : start + size], "failed", batch=batch_no)
            if rows:
                done -= len(rows)  # counted once already
                run_batch(rows, "failed", batch_no)

    totals = journal.refresh_send(conn, send_id, finished=True)
    pending, suppressed = journal.pending_counts(conn, send_id, list_id)
    complete = not pending and not totals["failed"] and not totals["in_doubt"] and not totals["sending"]
    journal.refresh_send(conn, send_id, status="done" if complete else "partial")
    report.status = "done" if complete else "partial"
    report.accepted, report.failed = counts[ACCEPTED], counts[FAILED]
    report.in_doubt = totals["in_doubt"]
    report.skipped = suppressed + totals["skipped"]
    report.totals = totals
    report.failures = journal.failed_errors(conn, send_id) if counts[FAILED] else []
    report.in_doubt_sample = journal.in_doubt_emails(conn, send_id) if report.in_doubt else []


def _record(conn, send_id: int, outcome: BatchResult, counts: dict[str, int], temporary: list[int],
            restore: str | None, number: int) -> None:
    from newsletter.store import sends as journal

    rows = []
    for o in outcome.outcomes:
        if o.state == RETRY and outcome.fatal is not None:
            continue  # not sent and we are stopping: released below
        state = FAILED if o.state == RETRY else o.state
        if o.state == RETRY:
            temporary.append(o.subscriber_id)
        counts[state] += 1
        rows.append((o.subscriber_id, state, o.message_id, o.error))
    journal.finish_batch(conn, send_id, rows, batch=number if len(rows) == len(outcome.outcomes) else None)
    if outcome.fatal is not None:
        unsent = [o.subscriber_id for o in outcome.outcomes if o.state == RETRY]
        journal.release(conn, send_id, unsent, restore=restore)


def list_sends(settings: Settings) -> list[dict[str, Any]]:
    """Every send with its status and counts, newest first."""
    from newsletter.store import connect
    from newsletter.store import sends as journal

    conn = connect(settings.newsletter_database)
    try:
        return journal.list_sends(conn)
    finally:
        conn.close()


@dataclass
class ReviewSendReport:
    """What ``send_review_copies`` did."""

    recipients: list[str]
    backend: str
    subject: str
    outcomes: list[Outcome]
    where: str = ""
    screenshots: list[Path] = field(default_factory=list)

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

    Goes through the configured backend; nothing is recorded as a send.
    """
    from newsletter.personalize import SAMPLE_VALUES
    from newsletter.subscribers import normalize_email

    addresses = [normalize_email(a) for a in (list(to) or settings.reviewers)]
    if not addresses:
        raise InputError("no reviewers: pass --to EMAIL or set NEWSLETTER_REVIEWERS")
    result = compose_checked(path, settings, allow_errors=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    attachments: list[Path] = []
    if screenshots:
        from newsletter.review.screenshots import capture

        attachments = list(capture(result, settings.path("newsletter_build_dir") / "test-send" / stamp))
    outbox_dir = settings.path("newsletter_outbox") / f"test-{stamp}"
    backend = make_backend(
        settings.newsletter_backend, settings, result, send_id=0, subject_prefix="[TEST] ",
        outbox_dir=outbox_dir, attachments=attachments,
    )
    batch = [
        Recipient(i, email, SAMPLE_VALUES["name"], SAMPLE_VALUES["unsubscribe_url"], result.issue.web_url or SAMPLE_VALUES["web_url"])
        for i, email in enumerate(addresses, start=1)
    ]
    with backend:
        outcome = backend.send_batch(batch)
    return ReviewSendReport(
        recipients=addresses,
        backend=settings.newsletter_backend,
        subject="[TEST] " + result.issue.subject,
        outcomes=outcome.outcomes,
        where=str(outbox_dir) if settings.newsletter_backend == "outbox" else "",
        screenshots=attachments,
    )
