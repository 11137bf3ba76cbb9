"""Sending through the gate, now or at a time: ``send_now``, ``schedule`` and ``finish``.

Two ways a scheduled send goes out (the README's "Review and release" says
which is used when):

- **worker**: the audience is fixed now (the send's ledger is written, so
  people who join later are not in it) and a ``newsletter worker`` starts
  the send at its time, after composing the issue again and checking that the
  build is still the one scheduled and approved;
- **sendgrid**: with the SendGrid backend, ``NEWSLETTER_SENDGRID_SEND_AT`` on
  and the time within SendGrid's 72-hour window, every batch is handed over
  now with ``send_at`` and one ``batch_id``; SendGrid releases them at the
  minute, and ``cancel`` cancels the batch (until 10 minutes before).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter.errors import NewsletterError
from newsletter.release import ReleaseRefused
from newsletter.release.clock import Clock, stamp, system_clock
from newsletter.release.gate import ReleaseHooks, options_dict
from newsletter.release.when import Moment, parse_at
from newsletter.settings import Settings

if TYPE_CHECKING:
    from newsletter.delivery.plan import SendOptions, SendPlan, SendReport
    from newsletter.delivery.run import Progress


@dataclass
class Scheduled:
    """What ``schedule`` did."""

    plan: SendPlan
    moment: Moment
    path: str  # 'worker' or 'sendgrid'
    send_id: int | None = None
    batch_id: str = ""
    report: SendReport | None = None  # the hand-over run (sendgrid)
    cancelled: bool = False  # the user said no at the prompt


def send_now(path: str | Path, options: SendOptions, settings: Settings, *, actor: str,
             confirm: Callable[[SendPlan], bool] | None = None, progress: Progress | None = None,
             stop: threading.Event | None = None, clock: Clock = system_clock) -> tuple[SendReport, ReleaseHooks]:
    """``send_issue`` through the gate (approvals, schedule, pause); the release row and audit log follow the run."""
    from newsletter.delivery.engine import send_issue

    hooks = ReleaseHooks(settings, Path(path), options, mode="now", actor=actor, clock=clock)
    try:
        report = send_issue(path, options, settings, confirm=confirm, progress=progress, stop=stop, hooks=hooks)
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


def schedule(path: str | Path, options: SendOptions, settings: Settings, *, at: str, tz: str | None, actor: str,
             confirm: Callable[[SendPlan, Moment, str], bool] | None = None, progress: Progress | None = None,
             stop: threading.Event | None = None, clock: Clock = system_clock) -> Scheduled:
    """Schedule issue ``path`` for ``at`` (in ``tz``): check the gate now, then fix the audience or hand it over."""
    from newsletter import tokens
    from newsletter.delivery.engine import compose_checked, send_issue

    now = clock()
    moment = parse_at(at, tz, settings.newsletter_timezone, now)
    tokens.require_key(settings.newsletter_secret_key)
    result = compose_checked(path, settings)
    route = "sendgrid" if uses_sendgrid(settings, moment, now) else "worker"
    checker = ReleaseHooks(settings, Path(path), options, mode="schedule", actor=actor, clock=clock)
    looked = send_issue(path, replace(options, dry_run=True), settings, result=result, hooks=checker)
    done = Scheduled(looked.plan, moment, route)
    if confirm is not None and not confirm(looked.plan, moment, route):
        done.cancelled = True
        return done
    if route == "worker":
        done.send_id = _fix_audience(checker, result, settings, options, moment, actor, now)
        return done
    from newsletter.release.sendgrid_batches import BatchAPI

    done.batch_id = _batch_for(settings, looked.plan.send_id, moment)
    if not done.batch_id and looked.plan.already_accepted + looked.plan.in_doubt + looked.plan.failed:
        raise ReleaseRefused(f"send {looked.plan.send_id} is partly sent: finish it with `newsletter send` "
                             "(SendGrid holds only sends that have not started)", subject=str(path))
    done.batch_id = done.batch_id or BatchAPI(settings).create_batch()
    hooks = ReleaseHooks(settings, Path(path), options, mode="handover", actor=actor, clock=clock,
                         send_at=moment.utc, zone=moment.zone, batch_id=done.batch_id)
    try:
        done.report = send_issue(path, options, settings, result=result, hooks=hooks, progress=progress, stop=stop)
    except NewsletterError as exc:
        finish(hooks, settings, error=exc)
        raise
    done.send_id = done.report.send_id
    finish(hooks, settings, report=done.report)
    return done


def _batch_for(settings: Settings, send_id: int | None, moment: Moment) -> str:
    """The batch of an earlier, partial hand-over of this send for the same moment ('' if none)."""
    from newsletter.store import release as store
    from newsletter.store import session

    if send_id is None:
        return ""
    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        row = store.get(conn, send_id)
    if row and row["batch_id"] and row["run_at"] == stamp(moment.utc) and row["state"] in ("incomplete", "failed"):
        return str(row["batch_id"])
    return ""


def _fix_audience(checker: ReleaseHooks, result: Any, settings: Settings, options: SendOptions, moment: Moment,
                  actor: str, now: Any) -> int:
    """Write the send and its ledger (the audience the gate saw), and the release row a worker will claim."""
    from newsletter.store import release as store
    from newsletter.store import sends as ledger
    from newsletter.store import session

    target = checker.target
    assert target is not None
    audience = target.audience
    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        existing = ledger.find_send(conn, result.issue.slug, target.list_id, audience.key)
        if existing is not None and not ledger.delete_unsent(conn, existing["id"]):
            send_id = int(existing["id"])  # partly sent already: the worker continues it at its time
        else:
            send_id, _size, _created = ledger.create_send(
                conn, slug=result.issue.slug, list_id=target.list_id, html_sha256=result.html_sha256,
                backend=settings.newsletter_backend, subject=result.issue.subject, links=result.web_links,
                audience=audience.key, where=audience.where, params=audience.params,
            )
        store.save(conn, send_id, now=stamp(now), slug=result.issue.slug, list_name=options.list_name,
                   audience=audience.key, issue_path=str(Path(checker.issue).resolve()), options=options_dict(options),
                   build_id=target.build.id, build=target.build.as_dict(), mode="worker", state="scheduled",
                   run_at=stamp(moment.utc), zone=moment.zone, batch_id="", claimed_by="", error="")
    _audit(settings, "schedule", send_id, result.issue.slug, options.list_name, actor, now,
           f"for {moment.local()} (worker), build {target.build.short}, {target.recipients} recipient(s)")
    return send_id


def finish(hooks: ReleaseHooks, settings: Settings, *, report: SendReport | None = None,
           error: NewsletterError | None = None, send_id: int | None = None) -> str:
    """Record how a run ended (release state and audit log); return the state."""
    from newsletter.store import release as store
    from newsletter.store import session

    send_id = hooks.send_id or send_id
    if send_id is None:
        return ""  # refused or failed before the send existed: nothing to record
    if error is not None:
        state = "refused" if isinstance(error, ReleaseRefused) else "failed"
        detail = str(error)
    else:
        assert report is not None
        detail = report.totals.line()
        if hooks.paused:
            state, detail = ("scheduled" if hooks.mode == "start" else "stopped"), f"paused with {detail}"
        elif report.interrupted:
            state = "stopped"
        elif report.ok:
            state = "handed-over" if hooks.mode == "handover" else "done"
        else:
            state = "incomplete"
    now = hooks.clock()
    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        row = store.get(conn, send_id)
        store.set_state(conn, send_id, state, now=stamp(now), error=detail if state in ("refused", "failed") else "")
    _audit(settings, "refuse" if state == "refused" else "finish", send_id, row["slug"] if row else "",
           hooks.options.list_name, hooks.actor, now, f"{state}: {detail}")
    return state


def _audit(settings: Settings, action: str, send_id: int | None, slug: str, list_name: str, actor: str, now: Any,
           detail: str) -> None:
    from newsletter.store import audit, session

    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        audit.record(conn, action, at=stamp(now), send_id=send_id, slug=slug, list_name=list_name, actor=actor,
                     detail=detail)
