"""Sending an issue: ``send_issue`` plans a send, fixes its audience, holds its lease and runs it.

1. compose the issue (refuse if its checks have errors) and check the
   settings and the backend's (an API key, an SMTP host) before anything is
   written;
2. find the send of (issue, list); refuse a changed issue after a partial
   send unless ``allow_changed``; settle in-doubt recipients from the
   provider's events; show the plan to ``confirm``;
3. on yes: create the send and fix its audience (one transaction), take the
   send's lease (a second run refuses; a dead run's rows in flight become in
   doubt), open the backend, and let ``SendRun`` send it batch by batch.

The README's "Exactly once" section states the guarantee this gives.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsletter.delivery.base import ACCEPTED, Backend, NoJournal, Outcome, Recipient
from newsletter.delivery.hooks import SendHooks
from newsletter.delivery.plan import SendOptions, SendPlan, SendReport, Totals
from newsletter.delivery.run import Progress
from newsletter.errors import ConfigError, InputError, NewsletterError
from newsletter.settings import Settings

BACKENDS = ("outbox", "smtp", "sendgrid")


def check_backend(name: str, settings: Settings) -> None:
    """``ConfigError`` unless backend ``name`` exists and its settings can work (nothing is written)."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r} (choose {', '.join(BACKENDS)})", subject="NEWSLETTER_BACKEND")
    if name == "smtp":
        from newsletter.delivery.smtp import check_settings
    elif name == "sendgrid":
        from newsletter.delivery.sendgrid import check_settings
    else:
        return
    check_settings(settings)


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

    check_backend(name, settings)
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

        return SMTPBackend(settings, build, factory.headers.from_email, send_id=send_id)
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


def compose_checked(path: str | Path, settings: Settings, *, allow_errors: bool = False,
                    allow_clipping: bool = True) -> Any:
    """Compose an issue; ``InputError`` naming what stops a send (its check errors; Gmail clipping
    unless ``allow_clipping``) unless ``allow_errors``."""
    from newsletter.compose import compose_issue
    from newsletter.compose.checks import send_blockers

    result = compose_issue(Path(path), settings)
    blockers = [] if allow_errors else send_blockers(result, allow_clipping=allow_clipping)
    if blockers:
        shown = "; ".join(str(f) for f in blockers[:3])
        more = f" (and {len(blockers) - 3} more)" if len(blockers) > 3 else ""
        hint = "; pass --allow-clipping to send it anyway" if any(f.code == "html-too-large" for f in blockers) else ""
        raise InputError(f"not sending: {shown}{more}{hint}", subject=str(path))
    return result


def _send_warnings(result: Any, settings: Settings, backend: str) -> list[str]:
    warnings = [str(w) for w in result.warnings]
    if backend != "outbox" and not settings.newsletter_public_url.startswith("https://"):
        warnings.append(
            "NEWSLETTER_PUBLIC_URL: not https://; mail providers require HTTPS for one-click unsubscribe (RFC 8058)"
        )
    return warnings


def send_issue(
    path: str | Path,
    options: SendOptions,
    settings: Settings,
    *,
    confirm: Callable[[SendPlan], bool] | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    result: Any = None,
    hooks: SendHooks | None = None,
) -> SendReport:
    """Send issue ``path`` to ``options.list_name``, each recipient exactly once (see the module doc).

    ``confirm(plan)`` is asked before anything is written (``None``: yes);
    ``progress(done, total, counts)`` is called after every batch; setting
    ``stop`` ends the run after the batch in flight. ``result`` may carry an
    already composed issue. ``hooks`` (``newsletter.release``) may refuse the
    send, watch for a pause and replace the backend (see ``delivery.hooks``).
    """
    from newsletter import tokens
    from newsletter.store import sends as ledger
    from newsletter.store import session
    from newsletter.store import subscribers as people

    if options.resend_in_doubt and options.skip_in_doubt:
        raise InputError("choose either --resend-in-doubt or --skip-in-doubt, not both")
    backend_name = settings.newsletter_backend
    check_backend(backend_name, settings)
    tokens.require_key(settings.newsletter_secret_key)  # before anything is composed or written
    if result is None:
        result = compose_checked(path, settings, allow_clipping=options.allow_clipping)
    elif result.errors:
        raise InputError(f"the issue has {len(result.errors)} check error(s), not sending", subject=str(path))
    slug = result.issue.slug
    database = settings.newsletter_database

    with session(database, timeout=settings.newsletter_database_timeout, threads=True) as conn:
        list_id = people.find_list(conn, options.list_name)
        if list_id is None:
            raise InputError("no such list (see `newsletter lists`)", subject=options.list_name)
        audience = _audience(conn, options, list_id)
        existing = ledger.find_send(conn, slug, list_id, audience.key)
        plan = SendPlan(
            slug=slug, subject=result.issue.subject, sender=result.sender or settings.newsletter_from,
            backend=backend_name, list_name=options.list_name, options=options, audience=audience.key,
            warnings=_send_warnings(result, settings, backend_name),
        )
        if existing is None:
            plan.to_send, plan.suppressed = ledger.count_audience(conn, slug, list_id, audience.where, audience.params)
        else:
            _plan_existing(conn, plan, existing, list_id, audience, result, path)
        if hooks is not None:  # release: approvals, schedules and pauses may refuse it
            hooks.check(conn, plan, result, audience, list_id)
        report = SendReport(plan=plan, send_id=plan.send_id)
        if options.dry_run:
            report.dry_run = True
            return report
        if confirm is not None and not confirm(plan):
            report.cancelled = True
            return report
        created = existing is None
        if existing is None:
            plan.send_id, _size, created = ledger.create_send(
                conn, slug=slug, list_id=list_id, html_sha256=result.html_sha256, backend=backend_name,
                subject=result.issue.subject, links=result.web_links, audience=audience.key,
                where=audience.where, params=audience.params,
            )
        elif options.worker and (plan.changed or existing["backend"] != backend_name):
            raise InputError("a worker joins a send only with the same issue and backend as the send started with",
                             subject=str(path))
        # The new version or backend is written once the lease is held (a refused run writes nothing).
        new_version = existing is not None and (plan.changed or existing["backend"] != backend_name)
        assert plan.send_id is not None
        report.send_id = plan.send_id
        _run(conn, plan.send_id, list_id, audience, created, result, settings, options, report, progress, stop, hooks,
             new_version)
        return report


@dataclass(frozen=True)
class Audience:
    """Who a send is for: the list's active members matching ``where`` (``key`` names it in the ledger)."""

    key: str = ""
    where: str = ""
    params: tuple[Any, ...] = ()


def _audience(conn: Any, options: SendOptions, list_id: int) -> Audience:
    """The send's audience from ``--segment`` and ``--where`` (both may be given: all conditions hold)."""
    if not (options.segment or options.where):
        return Audience()
    from newsletter.audience.segments import parse_conditions, segment_conditions
    from newsletter.store.segments import where_sql

    conditions = list(parse_conditions(options.where))
    if options.segment:
        segment_list, saved = segment_conditions(conn, options.segment)
        if segment_list != list_id:
            raise InputError(f"the segment belongs to another list, not {options.list_name!r}", subject=options.segment)
        conditions = list(saved) + conditions
    unique = sorted({str(c): c for c in conditions}.items())
    where, params = where_sql([c for _, c in unique], dialect=conn.dialect)
    return Audience(" ".join(key for key, _ in unique), where, tuple(params))


def _plan_existing(conn: Any, plan: SendPlan, existing: dict[str, Any], list_id: int, audience: Audience,
                   result: Any, path: str | Path) -> None:
    from newsletter.store import sends as ledger

    plan.send_id = existing["id"]
    counts = ledger.counts(conn, existing["id"])
    totals = Totals.from_counts(counts)
    plan.to_send, plan.suppressed = totals.pending, totals.suppressed
    plan.already_accepted, plan.in_doubt, plan.failed = totals.accepted, totals.in_doubt, totals.failed
    plan.settled_accepted, plan.settled_failed = ledger.settle_from_events(conn, existing["id"], dry_run=True)
    plan.joined_since = ledger.add_new_members(conn, existing["id"], list_id, plan.slug, audience.where,
                                               audience.params, dry_run=True)
    started = totals.accepted + totals.failed + totals.in_doubt + totals.skipped > 0
    plan.changed = existing["html_sha256"] != result.html_sha256
    if plan.changed and started and not plan.options.allow_changed:
        raise InputError(
            f"the issue changed since it was partly sent to {plan.list_name!r} "
            f"({plan.already_accepted} accepted); pass --allow-changed to send the new version to the rest",
            subject=str(path),
        )


def _run(conn: Any, send_id: int, list_id: int, audience: Audience, created: bool, result: Any, settings: Settings,
         options: SendOptions, report: SendReport, progress: Progress | None, stop: threading.Event | None,
         hooks: SendHooks | None = None, new_version: bool = False) -> None:
    """Hold the send's lease, record a ``new_version`` (issue or backend), settle what can be settled,
    open the backend and run the send."""
    from newsletter import tokens
    from newsletter.delivery.lease import Lease
    from newsletter.delivery.run import SendRun, interrupted_message
    from newsletter.store import sends as ledger

    lease = Lease(conn, settings.newsletter_database, send_id, seconds=settings.newsletter_lease_seconds,
                  timeout=settings.newsletter_database_timeout, worker=options.worker)
    try:
        lease.acquire()
    except NewsletterError:
        if created:
            ledger.delete_unsent(conn, send_id)
        raise
    released = False
    try:
        if hooks is not None:  # release: record the start; a pause in the store also stops the run
            stop = hooks.run_started(conn, send_id, stop or threading.Event())
        if new_version:
            ledger.update_send_version(conn, send_id, html_sha256=result.html_sha256, subject=result.issue.subject,
                                       links=result.web_links, backend=settings.newsletter_backend)
        report.settled = sum(ledger.settle_from_events(conn, send_id))
        if options.skip_in_doubt:
            ledger.skip_in_doubt(conn, send_id)
        if options.include_new:
            ledger.add_new_members(conn, send_id, list_id, result.issue.slug, audience.where, audience.params)
        tracking = settings.newsletter_tracking and settings.newsletter_backend != "sendgrid"
        backend = make_backend(settings.newsletter_backend, settings, result, send_id=send_id, tracking=tracking)
        if hooks is not None:  # release: SendGrid may get the batches with send_at and a batch_id
            backend = hooks.backend(backend)
        urls = tokens.RecipientURLs(settings.newsletter_public_url, settings.newsletter_secret_key, send_id)
        web_url = result.issue.web_url or ""

        def recipient(row: tuple[int, str, str, int]) -> Recipient:
            sid, email, name, attempt = row
            return Recipient(sid, email, name, urls.unsubscribe(sid), web_url, max(attempt, 1), urls.preferences(sid))

        sources = [s for s, wanted in (("in_doubt", options.resend_in_doubt), ("failed", options.retry_failed)) if wanted]
        rate = settings.newsletter_rate if options.rate is None else options.rate
        with backend:
            run = SendRun(conn, backend, lease, send_id, list_id, recipient, rate=rate,
                          retry_delays=options.retry_delays, progress=progress, stop=stop or threading.Event(),
                          total=report.plan.total, concurrency=settings.newsletter_concurrency)
            counts = run.execute([*sources, "queued"])
        report.accepted, report.failed, report.in_doubt = counts.accepted, counts.failed, counts.in_doubt
        report.interrupted = counts.interrupted
        released = True
        lease.release("stopped" if counts.interrupted else "finished")
    except NewsletterError as exc:
        released = True
        lease.release("failed")
        if created and ledger.delete_unsent(conn, send_id):
            raise  # nothing was ever handed over: no trace of this send is left
        _finish(conn, report, send_id)
        raise interrupted_message(exc, report.totals.line()) from None
    finally:
        if not released:  # Ctrl-C twice, or a bug: what is in flight becomes in doubt
            lease.release("failed")
    _finish(conn, report, send_id)


def _finish(conn: Any, report: SendReport, send_id: int) -> None:
    from newsletter.store import sends as ledger

    # Other workers may still be sending it: their rows are in flight, not in doubt. Asked before the
    # counts, so a worker that ends in between is not taken for a dead one with rows on the wire.
    live = bool(_live_runs(conn, send_id))
    counts = ledger.counts(conn, send_id)
    report.totals = Totals.from_counts(counts, live=live and counts["claimed"] + counts["sending"] > 0)
    report.failures = ledger.emails_in(conn, send_id, "failed") if report.totals.failed else []
    report.in_doubt_sample = [e for e, _ in ledger.emails_in(conn, send_id, "in_doubt")] if report.totals.in_doubt else []


def list_sends(settings: Settings, send_id: int | None = None) -> list[dict[str, Any]]:
    """Every send (or one) with its status and counts, derived from the ledger, newest first."""
    from newsletter.store import sends as ledger
    from newsletter.store import session

    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        live = {r.send_id for r in _live_runs(conn)}
        rows = ledger.list_sends(conn, send_id)
    for row in rows:
        totals = Totals.from_counts(row, live=row["id"] in live)
        row.update({"status": totals.status, "totals": totals})
    return rows


def _live_runs(conn: Any, send_id: int | None = None) -> list[Any]:
    """Open runs (of one send, or of all) whose lease is fresh and whose process lives."""
    import time

    from newsletter.delivery.lease import is_gone
    from newsletter.store import runs as run_store

    now = time.time()
    return [r for r in run_store.open_runs(conn, send_id) if r.expires_at > now and not is_gone(r)]


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
    from newsletter.audience.members import normalize_email
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
    backend = make_backend(
        settings.newsletter_backend, settings, result, send_id=0, subject_prefix="[TEST] ",
        outbox_dir=outbox_dir, attachments=attachments,
    )
    batch = [
        Recipient(i, email, SAMPLE_VALUES["name"], SAMPLE_VALUES["unsubscribe_url"],
                  result.issue.web_url or SAMPLE_VALUES["web_url"], preferences_url=SAMPLE_VALUES["preferences_url"])
        for i, email in enumerate(addresses, start=1)
    ]
    with backend:
        outcome = backend.send_batch(batch, NoJournal())
    return ReviewSendReport(
        recipients=addresses,
        backend=settings.newsletter_backend,
        subject="[TEST] " + result.issue.subject,
        outcomes=outcome.outcomes,
        where=str(outbox_dir) if settings.newsletter_backend == "outbox" else "",
        screenshots=attachments,
    )
