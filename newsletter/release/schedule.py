"""Sending through the gate, now or at a time: ``send_now``, ``schedule`` and ``finish``.

Two ways a scheduled send goes out (the README's "Review and release" says
which is used when):

- **worker**: the audience is fixed now (the send's ledger is written, so
  people who join later are not in it) and a ``newsletter worker`` starts
  the send at its time, after composing the issue again and checking that the
  build is still the one scheduled and approved;
- **sendgrid** (opt-in): with the SendGrid backend, ``NEWSLETTER_SENDGRID_SEND_AT``
  on and the time within SendGrid's 72-hour window, every batch is handed
  over now with ``send_at`` and one ``batch_id``; SendGrid releases them at
  the minute, and ``cancel`` cancels the batch (until 10 minutes before).

The worker is the default for every backend, SendGrid included, because it
is the only way that keeps the promise "nobody who left before their
message left the provider receives it" with no new moving part: the batches
are claimed, and whoever left is suppressed, at the moment they leave. A
hand-over with ``send_at`` cannot take anyone out afterwards (SendGrid's
cancel is all or nothing, and refused in the last 10 minutes), and keeping
SendGrid's own unsubscribe group in step with ours would be a second copy of
the suppression list, synchronised over the network, whose checks at
``send_at`` SendGrid does not document.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter.delivery.plan import Controls
from newsletter.errors import InputError, NewsletterError
from newsletter.release import ReleaseRefused
from newsletter.release.clock import Clock, stamp, system_clock
from newsletter.release.gate import Mode, ReleaseHooks, options_dict
from newsletter.release.when import Moment, after_moment, parse_after, parse_at
from newsletter.settings import Settings
from newsletter.store.audit import Logged
from newsletter.store.releases import ReleaseState, Route

if TYPE_CHECKING:
    from newsletter.delivery.plan import SendOptions, SendPlan, SendReport


@dataclass
class Scheduled:
    """What ``schedule`` did."""

    plan: SendPlan
    moment: Moment
    route: Route  # worker or sendgrid
    send_id: int | None = None
    batch_id: str = ""
    report: SendReport | None = None  # the hand-over run (sendgrid)
    cancelled: bool = False  # the user said no at the prompt


def send_now(path: str | Path, options: SendOptions, settings: Settings, *, actor: str,
             controls: Controls = Controls(), clock: Clock = system_clock) -> tuple[SendReport, ReleaseHooks]:
    """``send_issue`` through the gate (approvals, schedule, pause); the release row and audit log follow the run."""
    from newsletter.delivery.send import send_issue

    hooks = ReleaseHooks(settings, Path(path), options, mode=Mode.NOW, actor=actor, clock=clock)
    try:
        report = send_issue(path, options, settings, controls=controls, hooks=hooks)
    except NewsletterError as exc:
        finish(hooks, settings, error=exc)
        raise
    if not (report.dry_run or report.cancelled):
        finish(hooks, settings, report=report)
    return report, hooks


def uses_sendgrid(settings: Settings, moment: Moment, now: Any) -> bool:
    """Whether a send at ``moment`` is handed to SendGrid now (else a worker starts it then)."""
    from newsletter.release.sendgrid_batches import within_window

    return (settings.newsletter_backend == "sendgrid" and settings.newsletter_sendgrid_send_at
            and within_window(moment.utc, now))


def schedule(path: str | Path, options: SendOptions, settings: Settings, *, actor: str,
             controls: Controls = Controls(), clock: Clock = system_clock) -> Scheduled:
    """Schedule issue ``path`` for ``options.at`` (in ``options.tz``), or a resend for ``options.after`` its
    source send finished: check the gate now, then fix the audience (a resend's: when it starts) or hand it
    over. ``controls.confirm(plan, moment, route)`` is asked first."""
    from newsletter import tokens
    from newsletter.compose import compose_checked
    from newsletter.delivery.send import check_resend_options, send_issue, subject_of

    check_resend_options(options)
    if options.at is None and options.after is None:
        raise InputError("--tz goes with --at \"YYYY-MM-DD HH:MM\"", subject="--tz")
    if options.test is not None:
        raise InputError("a subject test starts with its send: send it with --subject-b/--test when it is due "
                         "(not --at)", subject="--at")
    now = clock()
    delay = parse_after(options.after) if options.after is not None else None
    moment = parse_at(options.at, options.tz, settings.newsletter_timezone, now) if options.at is not None else None
    tokens.require_key(settings.newsletter_secret_key)
    result = subject_of(compose_checked(path, settings), options)
    checker = ReleaseHooks(settings, Path(path), options, mode=Mode.SCHEDULE, actor=actor, clock=clock)
    looked = send_issue(path, replace(options, dry_run=True), settings, result=result, hooks=checker)
    if moment is None:  # --after: the source send is known to exist and be finished now
        assert delay is not None and options.non_readers_of is not None
        moment = after_moment(_finished_at(settings, options.non_readers_of), delay,
                              options.tz or settings.newsletter_timezone, now, options.non_readers_of)
    # A resend's audience is fixed when it starts (who reads until then is not mailed): only a worker can.
    resend = options.non_readers_of is not None
    route = Route.SENDGRID if uses_sendgrid(settings, moment, now) and not resend else Route.WORKER
    done = Scheduled(looked.plan, moment, route)
    if controls.confirm is not None and not controls.confirm(looked.plan, moment, route):
        done.cancelled = True
        return done
    if route == Route.WORKER:
        done.send_id = _fix_audience(checker, result, settings, options, moment, actor, now)
        return done
    from newsletter.release.sendgrid_batches import BatchAPI

    done.batch_id = _batch_for(settings, looked.plan.send_id, moment)
    if not done.batch_id and looked.plan.already_accepted + looked.plan.in_doubt + looked.plan.failed:
        raise ReleaseRefused(f"send {looked.plan.send_id} is partly sent: finish it with `newsletter send` "
                             "(SendGrid holds only sends that have not started)", subject=str(path))
    done.batch_id = done.batch_id or BatchAPI(settings).create_batch()
    hooks = ReleaseHooks(settings, Path(path), options, mode=Mode.HANDOVER, actor=actor, clock=clock,
                         send_at=moment.utc, zone=moment.zone, batch_id=done.batch_id)
    try:
        done.report = send_issue(path, options, settings, result=result, hooks=hooks,
                                 controls=replace(controls, confirm=None))
    except NewsletterError as exc:
        finish(hooks, settings, error=exc)
        raise
    done.send_id = done.report.send_id
    finish(hooks, settings, report=done.report)
    return done


def _finished_at(settings: Settings, send_id: int) -> str:
    """When send ``send_id``'s last run ended (stored UTC text)."""
    from newsletter.store import sends, session

    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        found = sends.get_send(conn, send_id)
    if not found or not found["finished_at"]:
        raise InputError(f"send {send_id} has not finished: --after counts from its end", subject="--after")
    return str(found["finished_at"])


def _batch_for(settings: Settings, send_id: int | None, moment: Moment) -> str:
    """The batch of an earlier, partial hand-over of this send for the same moment ('' if none)."""
    from newsletter.store import releases as store
    from newsletter.store import session

    if send_id is None:
        return ""
    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        row = store.get(conn, send_id)
    if row and row["batch_id"] and row["run_at"] == stamp(moment.utc) and row["state"] in (ReleaseState.INCOMPLETE, ReleaseState.FAILED):
        return str(row["batch_id"])
    return ""


def _fix_audience(checker: ReleaseHooks, result: Any, settings: Settings, options: SendOptions, moment: Moment,
                  actor: str, now: Any) -> int:
    """Write the send and its ledger (the audience the gate saw), and the release row a worker will claim."""
    from newsletter.delivery.send import send_version
    from newsletter.store import releases as store
    from newsletter.store import sends, session

    target = checker.target
    assert target is not None
    audience = target.audience
    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        existing = sends.find_send(conn, result.issue.slug, target.list_id, audience.key)
        if existing is not None and not sends.delete_unsent(conn, existing["id"]):
            send_id = int(existing["id"])  # partly sent already: the worker continues it at its time
        else:
            # A resend's ledger is written when the worker starts it (``send_issue``: ``fix_audience``).
            send_id, _size, _created = sends.create_send(conn, result.issue.slug, target.list_id, audience,
                                                         send_version(result, settings.newsletter_backend),
                                                         fill=audience.non_readers_of is None)
        store.save(conn, send_id, now=stamp(now), slug=result.issue.slug, list_name=options.list_name,
                   audience=audience.key, issue_path=str(Path(checker.issue).resolve()), options=options_dict(options),
                   build_id=target.build.id, build=target.build.as_dict(), mode=Route.WORKER, state=ReleaseState.SCHEDULED,
                   run_at=stamp(moment.utc), zone=moment.zone, batch_id="", claimed_by="", error="")
    _audit(settings, "schedule", Logged(send_id, result.issue.slug, options.list_name), actor, now,
           f"for {moment.local()} (worker), build {target.build.short}, {target.recipients} recipient(s)")
    return send_id


def finish(hooks: ReleaseHooks, settings: Settings, *, report: SendReport | None = None,
           error: NewsletterError | None = None, send_id: int | None = None) -> str:
    """Record how a run ended (release state and audit log); return the state ('' if there is no send)."""
    from newsletter.store import releases as store
    from newsletter.store import session

    send_id = hooks.send_id or send_id
    if send_id is None:
        return ""  # refused or failed before the send existed: nothing to record
    if error is not None:
        state = ReleaseState.REFUSED if isinstance(error, ReleaseRefused) else ReleaseState.FAILED
        detail = str(error)
    else:
        assert report is not None
        detail = report.totals.line()
        if hooks.paused:
            state = ReleaseState.SCHEDULED if hooks.mode == Mode.START else ReleaseState.STOPPED
            detail = f"paused with {detail}"
        elif report.interrupted:
            state = ReleaseState.STOPPED
        elif report.ok:
            state = ReleaseState.HANDED_OVER if hooks.mode == Mode.HANDOVER else ReleaseState.DONE
        else:
            state = ReleaseState.INCOMPLETE
    now = hooks.clock()
    try:
        with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
            row = store.get(conn, send_id)
            if state in (ReleaseState.DONE, ReleaseState.INCOMPLETE):  # a subject test's groups went out
                from newsletter.release.subject_tests import schedule_pick

                pick_at = schedule_pick(conn, send_id, now=stamp(now))
                if pick_at is not None:
                    state, detail = ReleaseState.SCHEDULED, f"{detail}; the subject test is decided at {pick_at}"
            store.set_state(conn, send_id, state, now=stamp(now),
                            error=detail if state in (ReleaseState.REFUSED, ReleaseState.FAILED) else "")
        _audit(settings, "refuse" if state == ReleaseState.REFUSED else "finish",
               Logged(send_id, row["slug"] if row else "", hooks.options.list_name), hooks.actor, now, f"{state}: {detail}")
    except NewsletterError:
        if error is None:
            raise
        # The store refuses writes too (a full disk): the run's own error, which says what the ledger holds,
        # is the one to report; the release row still says running, and `sends` shows no live run.
    return state


def _audit(settings: Settings, action: str, about: Logged, actor: str, now: Any, detail: str) -> None:
    from newsletter.store import audit, session

    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        audit.record(conn, action, about, at=stamp(now), actor=actor, detail=detail)
