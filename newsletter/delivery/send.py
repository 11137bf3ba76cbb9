"""Sending an issue: ``send_issue`` plans a send, fixes its audience, holds its lease and runs it.

1. compose the issue (refuse if its checks have errors) and check the
   settings and the backend's (an API key, an SMTP host) before anything is
   written;
2. find the send of (issue, list, audience); refuse a changed issue after a
   partial send unless ``allow_changed``; settle in-doubt recipients from the
   provider's events; show the plan to ``confirm``;
3. on yes: create the send and fix its audience (one transaction), take the
   send's lease (a second run refuses; a dead run's rows in flight become in
   doubt), build the backend, and let ``SendRun`` send it batch by batch.

The README's "Exactly once" section states the guarantee this gives; the
ledger's table of states (``store/ledger.py``) is how.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter.delivery.plan import Controls, Progress, SendOptions, SendPlan, SendReport
from newsletter.delivery.registry import check_backend
from newsletter.errors import ConfigError, InputError, NewsletterError
from newsletter.settings import Settings

if TYPE_CHECKING:
    from newsletter.compose.model import ComposeResult
    from newsletter.delivery.hooks import SendHooks
    from newsletter.store.sends import SendVersion


def public_url_warning(backend: str, settings: Settings) -> str:
    """The warning for links subscribers of ``backend`` could not follow ('' if none or the backend is local)."""
    from newsletter.delivery.registry import backend_class
    from newsletter.settings import public_url_problem

    problem = public_url_problem(settings.newsletter_public_url) if backend_class(backend).reaches_people else ""
    return f"NEWSLETTER_PUBLIC_URL: {problem}" if problem else ""


def check_public_url(backend: str, settings: Settings) -> None:
    """``ConfigError`` when a send over ``backend`` would carry links its recipients cannot follow
    (see ``settings.public_url_problem``), unless ``NEWSLETTER_ALLOW_LOCAL_LINKS`` allows it."""
    warning = public_url_warning(backend, settings)
    if warning and not settings.newsletter_allow_local_links:
        _, _, problem = warning.partition(": ")
        raise ConfigError(f"{problem}; set it to the https:// address of `newsletter serve` (or send anyway "
                          "with `send --allow-local-links` or NEWSLETTER_ALLOW_LOCAL_LINKS=on)",
                          subject="NEWSLETTER_PUBLIC_URL")


def _send_warnings(result: ComposeResult, settings: Settings, backend: str) -> list[str]:
    warnings = [w.without_severity() for w in result.warnings]  # printed after "warning: "
    allowed = public_url_warning(backend, settings)  # only left when NEWSLETTER_ALLOW_LOCAL_LINKS allows it
    if allowed:
        warnings.append(allowed)
    return warnings


def send_version(result: ComposeResult, backend: str) -> SendVersion:
    """What a send records of ``result`` (its HTML's hash, subject and links) and of its backend."""
    from newsletter.store.sends import SendVersion

    return SendVersion(result.html_sha256, result.issue.subject, result.web_links, backend)


def send_issue(
    path: str | Path,
    options: SendOptions,
    settings: Settings,
    *,
    controls: Controls = Controls(),
    result: ComposeResult | None = None,
    hooks: SendHooks | None = None,
) -> SendReport:
    """Send issue ``path`` to ``options.list_name``, each recipient exactly once (see the module doc).

    ``controls.confirm(plan)`` is asked before anything is written (``None``:
    yes); ``controls.progress(done, total, counts)`` is called after every
    batch; setting ``controls.stop`` ends the run after the batch in flight.
    ``result`` may carry an already composed issue. ``hooks`` (``newsletter.release``) may refuse the
    send, watch for a pause and schedule it with SendGrid (see ``delivery.hooks``).
    """
    from newsletter import tokens
    from newsletter.compose import compose_checked
    from newsletter.store import sends, session
    from newsletter.store import subscribers as people
    from newsletter.store.segments import resolve

    if options.resend_in_doubt and options.skip_in_doubt:
        raise InputError("choose either --resend-in-doubt or --skip-in-doubt, not both")
    check_resend_options(options)
    backend_name = settings.newsletter_backend
    check_backend(backend_name, settings)
    check_public_url(backend_name, settings)
    tokens.require_key(settings.newsletter_secret_key)  # before anything is composed or written
    if result is None:
        result = compose_checked(path, settings, allow_clipping=options.allow_clipping)
    elif result.errors:
        raise InputError(f"the issue has {len(result.errors)} check error(s), not sending", subject=str(path))
    result = subject_of(result, options)
    slug = result.issue.slug

    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout, threads=True) as conn:
        list_id = people.find_list(conn, options.list_name)
        if list_id is None:
            raise InputError("no such list (see `newsletter lists`)", subject=options.list_name)
        audience = resolve(conn, options.list_name, options.where, options.segment, list_id=list_id,
                           non_readers_of=options.non_readers_of)
        source = (sends.check_source(conn, options.non_readers_of, list_id, options.list_name, slug)
                  if options.non_readers_of is not None else None)
        existing = sends.find_send(conn, slug, list_id, audience.key)
        # A scheduled resend exists before its audience is fixed (at its start): planned as a new send.
        unfixed = existing is not None and existing["started_at"] is None and audience.non_readers_of is not None
        plan = SendPlan(
            slug=slug, subject=result.issue.subject, sender=result.sender or settings.newsletter_from,
            backend=backend_name, list_name=options.list_name, options=options, audience=audience,
            warnings=_send_warnings(result, settings, backend_name),
        )
        plan.source_accepted = source["accepted"] if source is not None else 0
        if options.test is not None:  # the variants' subjects are checked like the issue's own
            from newsletter.delivery.subject_options import check_subjects

            plan.warnings.extend(check_subjects(options.test, result.issue.subject))
        if existing is None or unfixed:
            plan.send_id = existing["id"] if existing is not None else None
            plan.to_send, plan.suppressed = sends.count_audience(conn, slug, list_id, audience)
            if options.test is not None:
                from newsletter.delivery.subject_options import split

                plan.to_send, plan.held = split(plan.to_send, options.test)
        elif options.test is not None and not options.worker:
            raise InputError(f"send {existing['id']} has started already, and a subject test is fixed when a send "
                             "starts; run the command without --subject-b/--test to continue it", subject="--test")
        else:
            _plan_existing(conn, plan, existing, list_id, result, path)
        if hooks is not None:  # release: approvals, schedules and pauses may refuse it
            hooks.check(conn, plan, result, list_id)
        report = SendReport(plan=plan, send_id=plan.send_id)
        if options.dry_run:
            report.dry_run = True
            return report
        if controls.confirm is not None and not controls.confirm(plan):
            report.cancelled = True
            return report
        created = existing is None
        if existing is None:
            plan.send_id, _size, created = sends.create_send(conn, slug, list_id, audience,
                                                             send_version(result, backend_name), test=options.test)
        elif unfixed:
            sends.fix_audience(conn, existing["id"], list_id, slug, audience)
        elif options.worker and (plan.changed or existing["backend"] != backend_name):
            raise InputError("a worker joins a send only with the same issue and backend as the send started with",
                             subject=str(path))
        assert plan.send_id is not None
        report.send_id = plan.send_id
        run = PreparedRun(
            conn, settings, result, report, list_id,
            created=created,
            # The new version or backend is written once the lease is held (a refused run writes nothing).
            new_version=existing is not None and (_differs(existing, result) or existing["backend"] != backend_name),
            progress=controls.progress, stop=controls.stop or threading.Event(), hooks=hooks,
        )
        run.execute()
        return report


def _plan_existing(conn: Any, plan: SendPlan, existing: dict[str, Any], list_id: int, result: ComposeResult,
                   path: str | Path) -> None:
    """Fill ``plan`` for a send that exists: what is left, what the provider settles, who joined since."""
    from newsletter.delivery.lease import live_runs
    from newsletter.store import ledger, sends

    plan.send_id = existing["id"]
    # Rows a live run (a worker beside this one) holds are in flight, not in doubt from an earlier run.
    live = bool(live_runs(conn, existing["id"]))
    totals = ledger.Totals.from_counts(ledger.counts(conn, existing["id"]), live=live)
    plan.in_flight = totals.in_flight
    plan.held = totals.held
    plan.to_send, plan.suppressed = totals.pending, totals.suppressed
    plan.already_accepted, plan.in_doubt, plan.failed = totals.accepted, totals.in_doubt, totals.failed
    plan.settled_accepted, plan.settled_failed = ledger.settle_from_events(conn, existing["id"], dry_run=True)
    if plan.audience.non_readers_of is None:  # a resend's audience was fixed when it started: nobody joins it
        plan.joined_since = sends.add_new_members(conn, existing["id"], list_id, plan.slug, plan.audience, dry_run=True)
    started = totals.accepted + totals.failed + totals.in_doubt + totals.skipped > 0
    plan.changed = _differs(existing, result)
    if plan.changed and started and not plan.options.allow_changed:
        what = "issue" if existing["html_sha256"] != result.html_sha256 else (
            f"subject ({existing['subject']!r}, now {result.issue.subject!r})")
        raise InputError(
            f"the {what} changed since it was partly sent to {plan.list_name!r} "
            f"({plan.already_accepted} accepted); pass --allow-changed to send the new version to the rest",
            subject=str(path),
        )


def _differs(existing: dict[str, Any], result: ComposeResult) -> bool:
    """Whether ``result`` is not what send ``existing`` recorded: its HTML, or its subject (``--subject``
    changes the subject alone)."""
    return bool(existing["html_sha256"] != result.html_sha256 or existing["subject"] != result.issue.subject)


def check_resend_options(options: SendOptions) -> None:
    """``InputError`` (exit 2) for options that do not go with a resend, or need one."""
    if options.non_readers_of is None:
        if options.subject is not None:
            raise InputError("goes with --to-non-readers-of SEND: a first send goes out with the issue's subject, "
                             "as reviewed", subject="--subject")
        if options.after is not None:
            raise InputError("goes with --to-non-readers-of SEND (to schedule a first send, use --at)",
                             subject="--after")
        return
    if options.include_new:
        raise InputError("does not go with --to-non-readers-of: a resend goes to who received send "
                         f"{options.non_readers_of}, not to who joined since", subject="--include-new")
    if options.after is not None and options.at is not None:
        raise InputError("choose either --after (a delay after the send finished) or --at (a time), not both",
                         subject="--after")


def subject_of(result: ComposeResult, options: SendOptions) -> ComposeResult:
    """``result`` with ``options.subject`` instead of the issue's subject, checked (``--subject``); else ``result``."""
    if options.subject is None or options.subject == result.issue.subject:
        return result
    from newsletter.compose.checks import with_subject

    return with_subject(result, options.subject)


@dataclass
class PreparedRun:
    """A send that exists and is about to run: what ``execute`` needs to hold its lease and send it."""

    conn: Any
    settings: Settings
    result: ComposeResult
    report: SendReport  # filled in as the run goes
    list_id: int
    created: bool = False  # this run created the send (a refused run removes it again)
    new_version: bool = False  # the issue or the backend changed since the send started
    progress: Progress | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    hooks: SendHooks | None = None

    @property
    def send_id(self) -> int:
        """The send this run is of."""
        assert self.report.send_id is not None
        return self.report.send_id

    def execute(self) -> None:
        """Hold the send's lease, record a new version, settle what can be settled, build the backend
        and run the send; the report gets this run's counts and the send's totals."""
        from newsletter.delivery.lease import Lease
        from newsletter.delivery.run import interrupted_message
        from newsletter.store import sends

        settings, report = self.settings, self.report
        lease = Lease(self.conn, settings.newsletter_database, self.send_id,
                      seconds=settings.newsletter_lease_seconds, timeout=settings.newsletter_database_timeout,
                      worker=report.plan.options.worker)
        try:
            lease.acquire()
        except NewsletterError:
            if self.created:
                sends.delete_unsent(self.conn, self.send_id)
            raise
        ended = False
        try:
            outcome = self._send(lease)
            ended = True
            lease.end(outcome)
        except NewsletterError as exc:
            ended = True
            # The store may refuse writes now (a full disk): then the run stays open until its lease runs out,
            # and what the ledger says is still read and reported, in doubt included.
            if _or_false(lambda: _ended(lease, "failed")) and self.created \
                    and _or_false(lambda: sends.delete_unsent(self.conn, self.send_id)):
                raise  # nothing was ever handed over: no trace of this send is left
            self._finish(lease.run_id)
            raise interrupted_message(exc, report.totals.line()) from None
        finally:
            if not ended:  # Ctrl-C twice, or a bug: what is in flight becomes in doubt
                lease.end("failed")
        self._finish(lease.run_id)

    def _send(self, lease: Any) -> str:
        """The run itself, once the lease is held; returns how it ended ('finished' or 'stopped')."""
        from newsletter import tokens
        from newsletter.delivery.base import Mailing, Recipient
        from newsletter.delivery.registry import make_backend
        from newsletter.delivery.run import SendRun
        from newsletter.store import ledger, sends, subject_tests
        from newsletter.store import subscribers as people

        conn, settings, result, report, send_id = self.conn, self.settings, self.result, self.report, self.send_id
        options = report.plan.options
        stop = self.stop
        if self.hooks is not None:  # release: record the start; a pause in the store also stops the run
            stop = self.hooks.run_started(conn, send_id, stop)
        if self.new_version:
            sends.update_send_version(conn, send_id, send_version(result, settings.newsletter_backend))
        report.settled = sum(ledger.settle_from_events(conn, send_id))
        if options.skip_in_doubt:
            ledger.skip_in_doubt(conn, send_id)
        if options.include_new:
            sends.add_new_members(conn, send_id, self.list_id, result.issue.slug, report.plan.audience)
        mailing = Mailing(result, send_id, list_name=options.list_name,
                          tracking=settings.newsletter_tracking and settings.newsletter_backend != "sendgrid")
        if self.hooks is not None:  # release: SendGrid may hold the messages until a scheduled time
            mailing = self.hooks.mailing(mailing)
        backend = make_backend(settings.newsletter_backend, settings, mailing)
        urls = tokens.RecipientURLs(settings.newsletter_public_url, settings.newsletter_secret_key, send_id)
        web_url = result.issue.web_url or ""
        # A subject test's rows carry their variant: B and C get their own subject, A the issue's.
        test = subject_tests.get(conn, send_id)
        subjects = {v: s for v, s in test["variants"].items() if v != "A"} if test else {}
        # Imported first names that are not the name's first word, read once, only for an issue that uses them.
        uses_first_name = any("%%first_name%%" in part
                              for part in (result.html, result.text, result.issue.subject, *subjects.values()))
        given = people.first_names_of_send(conn, send_id) if uses_first_name else {}

        def recipient(row: ledger.Claimed) -> Recipient:
            sid, email, name, attempt, variant = row
            return Recipient(sid, email, name, urls.unsubscribe(sid), web_url, max(attempt, 1), urls.preferences(sid),
                             None, given.get(sid, ""), subjects.get(variant, ""))

        wanted = ((ledger.State.IN_DOUBT, options.resend_in_doubt), (ledger.State.FAILED, options.retry_failed))
        sources = [state for state, asked in wanted if asked]
        rate = settings.newsletter_rate if options.rate is None else options.rate
        with backend:
            run = SendRun(conn, backend, lease, send_id, self.list_id, recipient, rate=rate,
                          retry_delays=options.retry_delays, progress=self.progress, stop=stop,
                          total=report.plan.total, concurrency=settings.newsletter_concurrency)
            counts = run.execute([*sources, ledger.State.QUEUED])
        report.accepted, report.failed, report.in_doubt = counts.accepted, counts.failed, counts.in_doubt
        report.interrupted = counts.interrupted
        return "stopped" if counts.interrupted else "finished"

    def _finish(self, own_run: int) -> None:
        """The send's totals from the ledger, with a sample of what failed or is in doubt."""
        from newsletter.delivery.lease import live_runs
        from newsletter.store import ledger

        conn, report, send_id = self.conn, self.report, self.send_id
        # Other workers may still be sending it: their rows are in flight, not in doubt. Asked before the
        # counts, so a worker that ends in between is not taken for a dead one with rows on the wire. This
        # run's own rows are not in flight any more, even when its end could not be written.
        live = any(run.id != own_run for run in live_runs(conn, send_id))
        counts = ledger.counts(conn, send_id)
        report.totals = ledger.Totals.from_counts(counts, live=live and counts["claimed"] + counts["sending"] > 0)
        report.failures = ledger.emails_in(conn, send_id, "failed") if report.totals.failed else []
        report.in_doubt_sample = ([e for e, _ in ledger.emails_in(conn, send_id, "in_doubt")]
                                  if report.totals.in_doubt else [])


def _or_false(step: Callable[[], Any]) -> Any:
    """``step()``, or False when the store refused it (the error being reported already says why)."""
    try:
        return step()
    except NewsletterError:
        return False


def _ended(lease: Any, outcome: str) -> bool:
    lease.end(outcome)
    return True
