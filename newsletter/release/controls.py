"""Controls of a send after it was scheduled or started: cancel, pause, resume; listings with times and the log.

- ``cancel`` before the send starts: a worker's scheduled send is removed with
  its ledger; a send handed to SendGrid is cancelled through SendGrid's
  scheduled-sends API first, and only until 10 minutes before ``send_at``
  (past that point it refuses, and nothing is cancelled);
- ``pause`` sets a flag the run loop reads between batches: the run stops
  after the batches in flight and no worker starts or continues the send;
- ``resume`` clears it: a worker's send is continued by a worker, a send
  started from a terminal continues in this process;
- ``pick`` decides a subject test (``release.subject_tests``) and sends the
  rest here, as ``resume`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from newsletter.errors import InputError
from newsletter.release import ReleaseRefused
from newsletter.release.clock import Clock, parse_stamp, stamp, system_clock
from newsletter.release.sequence_pause import refuse_step_send
from newsletter.release.when import local_text
from newsletter.settings import Settings
from newsletter.store.releases import WAITING, ReleaseState

if TYPE_CHECKING:
    from newsletter.delivery.plan import Controls, SendReport


def _session(settings: Settings) -> Any:
    from newsletter.store import session

    return session(settings.newsletter_database, timeout=settings.newsletter_database_timeout)


def _release(conn: Any, send_id: int) -> dict[str, Any]:
    from newsletter.store import releases as store
    from newsletter.store import sends

    row = store.get(conn, send_id)
    if row is not None:
        return row
    if sends.get_send(conn, send_id) is None:
        raise InputError("no such send (see `newsletter sends`)", subject=str(send_id))
    refuse_step_send(conn, send_id)  # a step of a sequence: paused and resumed with its sequence
    raise InputError("this send was not started through the release gate (an older version): "
                     "re-run its `newsletter send` command", subject=str(send_id))


def _when(row: dict[str, Any], settings: Settings) -> str:
    return local_text(parse_stamp(row["run_at"]), settings.newsletter_timezone or row["zone"]) if row["run_at"] else ""


def _log(conn: Any, action: str, row: dict[str, Any], actor: str, now: str, detail: str) -> None:
    from newsletter.store import audit

    audit.record(conn, action, audit.Logged(row["send_id"], row["slug"], row["list_name"]), at=now, actor=actor,
                 detail=detail)


def cancel(send_id: int, settings: Settings, *, actor: str, clock: Clock = system_clock) -> str:
    """Cancel a scheduled send before it starts; return what was done (``ReleaseRefused`` if it cannot be)."""
    from newsletter.release.sendgrid_batches import CANCEL_CUTOFF, BatchAPI
    from newsletter.store import releases as store

    now = clock()
    with _session(settings) as conn:
        row = _release(conn, send_id)
        state = row["state"]
        if state == ReleaseState.SCHEDULED:
            if not store.cancel(conn, send_id, now=stamp(now), states=(ReleaseState.SCHEDULED,), detail=f"cancelled by {actor}"):
                raise ReleaseRefused("a worker started it a moment ago: pause it instead (`newsletter pause "
                                     f"{send_id}`)", subject=str(send_id))
            _log(conn, "cancel", row, actor, stamp(now), f"was scheduled for {_when(row, settings)}; nothing more is sent")
            return f"Cancelled send {send_id} (was scheduled for {_when(row, settings)}): nothing more is sent."
        if row["batch_id"] and state in (ReleaseState.HANDED_OVER, ReleaseState.INCOMPLETE, ReleaseState.FAILED) and row["run_at"]:
            send_at = parse_stamp(row["run_at"])
            if now >= send_at - CANCEL_CUTOFF:
                cutoff = local_text(send_at - CANCEL_CUTOFF, settings.newsletter_timezone or row["zone"])
                raise ReleaseRefused(
                    f"too late to cancel: its messages are with SendGrid for {_when(row, settings)}, and SendGrid "
                    f"cancels only until 10 minutes before ({cutoff}); nothing was cancelled", subject=str(send_id))
            BatchAPI(settings).cancel(row["batch_id"])  # raises, and nothing changes, if SendGrid refuses
            store.cancel(conn, send_id, now=stamp(now), states=(state,), detail=f"cancelled by {actor}", discard=True)
            _log(conn, "cancel", row, actor, stamp(now),
                 f"SendGrid batch {row['batch_id']} cancelled before {_when(row, settings)}; nothing will be delivered")
            return (f"Cancelled send {send_id}: SendGrid discards its batch {row['batch_id']} "
                    f"(was due {_when(row, settings)}); nothing will be delivered.")
        if state == ReleaseState.CANCELLED:
            return f"Send {send_id} was already cancelled."
        if state in (ReleaseState.RUNNING, ReleaseState.STOPPED):
            raise ReleaseRefused(f"it has started (state {state}); `newsletter pause {send_id}` stops it after the "
                                 "batches in flight", subject=str(send_id))
        raise ReleaseRefused(f"it is not waiting to start (state {state}): nothing to cancel", subject=str(send_id))


def pause(send_id: int, settings: Settings, *, actor: str, clock: Clock = system_clock) -> str:
    """Pause a send: a running one stops after the batches in flight; a scheduled one does not start."""
    from newsletter.store import releases as store

    now = stamp(clock())
    with _session(settings) as conn:
        row = _release(conn, send_id)
        state = row["state"]
        if state in (ReleaseState.DONE, ReleaseState.CANCELLED, ReleaseState.REFUSED):
            raise ReleaseRefused(f"it is {state}: nothing to pause", subject=str(send_id))
        if state == ReleaseState.HANDED_OVER:
            raise ReleaseRefused(f"its messages are with SendGrid for {_when(row, settings)}: "
                                 f"`newsletter cancel {send_id}` cancels them", subject=str(send_id))
        if not store.set_paused(conn, send_id, paused=True, by=actor, now=now):
            return f"Send {send_id} is already paused."
        _log(conn, "pause", row, actor, now, f"state {state}")
    if state == ReleaseState.RUNNING:
        return f"Pausing send {send_id}: it stops after the batches in flight. `newsletter resume {send_id}` continues it."
    return f"Paused send {send_id} ({state}): nothing more goes out until `newsletter resume {send_id}`."


@dataclass
class Resumed:
    """What ``resume`` did: a message, and the run's report when it continued the send here."""

    message: str
    report: SendReport | None = None
    paused: bool = False  # the run it continued was paused again


def resume(send_id: int, settings: Settings, *, actor: str, clock: Clock = system_clock,
           controls: Controls | None = None) -> Resumed:
    """Clear a pause; a worker's send is then continued by a worker, any other continues here (like ``send``)."""
    from pathlib import Path

    from newsletter.delivery.lease import live_runs
    from newsletter.release.gate import options_from
    from newsletter.release.schedule import send_now
    from newsletter.store import releases as store
    from newsletter.store import sends

    now = clock()
    with _session(settings) as conn:
        row = _release(conn, send_id)
        if store.set_paused(conn, send_id, paused=False, now=stamp(now)):
            _log(conn, "resume", row, actor, stamp(now), f"state {row['state']}")
        elif row["state"] != ReleaseState.STOPPED:
            raise ReleaseRefused(f"it is not paused (state {row['state']})", subject=str(send_id))
        send = sends.get_send(conn, send_id)
        state = row["state"]
        if state == ReleaseState.RUNNING and not live_runs(conn, send_id):
            state = ReleaseState.STOPPED  # its run died (killed) without recording how it ended: continue it here
    if state == ReleaseState.SCHEDULED:
        due = parse_stamp(row["run_at"]) <= now
        return Resumed(f"Resumed send {send_id}: " + ("due now, a worker starts it." if due
                                                      else f"a worker starts it at {_when(row, settings)}."))
    if state == ReleaseState.RUNNING:
        return Resumed(f"Resumed send {send_id}: its run had not stopped yet and goes on.")
    if state != ReleaseState.STOPPED:
        return Resumed(f"Resumed send {send_id} ({state}).")
    # It goes on through the backend it was going out through (`send --backend`), not this shell's default.
    settings = settings.with_overrides(newsletter_backend=send["backend"] if send else None)
    from newsletter.delivery.plan import Controls

    report, hooks = send_now(Path(row["issue_path"]), options_from(row["options"]), settings, actor=actor,
                             controls=controls or Controls(), clock=clock)
    return Resumed(f"Resumed send {send_id}.", report, hooks.paused)


@dataclass
class Picked:
    """What ``pick`` did: a message, and the run's report when it sent the rest here."""

    message: str
    report: SendReport | None = None
    paused: bool = False


def pick(send_id: int, variant: str, settings: Settings, *, actor: str, clock: Clock = system_clock,
         controls: Controls | None = None, ask: Callable[[str], bool] | None = None) -> Picked:
    """Decide a send's subject test for ``variant`` now (``newsletter pick``) and send the rest here.

    ``ask(question)`` is asked once the pick is known to be possible, before it is recorded (``None``: yes;
    no: ``ReleaseRefused``, nothing changes)."""
    from pathlib import Path

    from newsletter.delivery.lease import live_runs
    from newsletter.release.gate import options_from
    from newsletter.release.schedule import send_now
    from newsletter.release.subject_tests import decision_for
    from newsletter.store import releases, sends, session
    from newsletter.store import subject_tests as store
    from newsletter.store.releases import ReleaseState

    wanted = variant.strip().upper()
    now = clock()
    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        send = sends.get_send(conn, send_id)
        if send is None:
            raise InputError("no such send (see `newsletter sends`)", subject=str(send_id))
        test = store.get(conn, send_id)
        if test is None:
            raise InputError("this send has no subject test (see `newsletter sends`)", subject=str(send_id))
        if wanted not in test["variants"]:
            raise InputError(f"no variant {variant!r} in this test (it has {', '.join(test['variants'])})",
                             subject=str(send_id))
        if test["winner"] is not None:
            raise ReleaseRefused(f"its subject test was decided already: {test['winner']} by "
                                 f"{test['decided_by'] or 'a worker'} at {test['decided_at']}", subject=str(send_id))
        if live_runs(conn, send_id):
            raise ReleaseRefused("its test groups are being sent right now; pick once that run ends",
                                 subject=str(send_id))
        release = releases.get(conn, send_id)
        if release is not None and release["state"] == ReleaseState.CANCELLED:
            raise ReleaseRefused("it was cancelled: the rest of its audience gets nothing", subject=str(send_id))
        held = sends.listing(conn, send_id)[0]["held"]
        if ask is not None and not ask(f"Pick variant {wanted} ({test['variants'][wanted]!r}) for send {send_id} "
                                       f"and send it to the {held} held recipient(s)?"):
            raise ReleaseRefused("nothing picked", subject=str(send_id))
        decision = decision_for(conn, send_id, test, winner=wanted, by=actor, now=now)
        released = store.decide(conn, send_id, decision)
        if released is None:
            raise ReleaseRefused("its subject test was decided a moment ago by someone else (see `newsletter sends "
                                 f"{send_id}`)", subject=str(send_id))
        row = releases.get(conn, send_id)
        if row is None:  # a send started before the release gate: its own `send` command continues it
            return Picked(f"Picked variant {wanted} for send {send_id}: {released} held recipient(s) get it; "
                          "re-run its `newsletter send` to send them.")
        # A worker may have claimed the due pick meanwhile: then it sends the rest with this decision.
        worker_has_it = row["state"] == ReleaseState.SCHEDULED and not releases.set_state(
            conn, send_id, ReleaseState.STOPPED, now=stamp(now), expect=(ReleaseState.SCHEDULED,))
        paused = bool(row["paused_at"])
    done = f"Picked variant {wanted} for send {send_id}: {released} held recipient(s) get it"
    if worker_has_it:
        return Picked(done + "; a worker is sending them.")
    if paused:
        return Picked(done + f"; the send is paused: `newsletter resume {send_id}` sends them.")
    from newsletter.delivery.plan import Controls

    settings = settings.with_overrides(newsletter_backend=send["backend"])
    report, hooks = send_now(Path(row["issue_path"]), options_from(row["options"]), settings, actor=actor,
                             controls=controls or Controls(), clock=clock)
    return Picked(done + ".", report, hooks.paused)


def list_sends(settings: Settings, send_id: int | None = None, *, clock: Clock = system_clock) -> list[dict[str, Any]]:
    """Every send (or one), newest first, with its status from the ledger (``delivery.status``), its release
    (schedule, pause, state) and the sends cancelled before they started."""
    from newsletter.delivery.status import statuses
    from newsletter.release.subject_tests import with_counts
    from newsletter.store import releases as store
    from newsletter.store import subject_tests
    from newsletter.store.ledger import Totals

    with _session(settings) as conn:
        rows = statuses(conn, send_id)
        releases = {r["send_id"]: r for r in store.list_releases(conn, send_id)}
        one = subject_tests.get(conn, send_id) if send_id is not None else None
        tests = subject_tests.all_tests(conn) if send_id is None else ({send_id: one} if one else {})
        for row in rows:  # a subject test: its variants, counts and decision
            row["subject_test"] = with_counts(conn, tests[row["id"]]) if row["id"] in tests else None
    now = stamp(clock())
    for row in rows:
        _overlay(row, releases.pop(row["id"], None), settings, now)
        if row.get("subject_test") and row.get("release") == ReleaseState.CANCELLED:
            row["subject_test"]["cancelled"] = True
    for release in releases.values():  # cancelled: the send itself is gone
        if release["state"] == ReleaseState.CANCELLED:
            subject = release["build"].get("facts", {}).get("subject", "")
            gone = {"id": release["send_id"], "slug": release["slug"], "list": release["list_name"],
                    "audience": release["audience"], "backend": "", "subject": subject,
                    "created_at": release["created_at"], "started_at": None, "finished_at": release["updated_at"],
                    "totals": Totals()}
            rows.append(_overlay(gone, release, settings, now))
    return sorted(rows, key=lambda r: r["id"], reverse=True)


def _overlay(row: dict[str, Any], release: dict[str, Any] | None, settings: Settings, now: str) -> dict[str, Any]:
    """Add the release's schedule to a listed send; its status when the ledger cannot tell it."""
    row.update(scheduled_for=None, zone=None, release=None, paused=False)
    if release is None:
        return row
    state = release["state"]
    row.update(release=state, paused=bool(release["paused_at"]), error=release["error"])
    not_run = (*WAITING, ReleaseState.CANCELLED, ReleaseState.REFUSED)
    if release["run_at"] and state in not_run:
        row.update(scheduled_for=_when(release, settings), zone=settings.newsletter_timezone or release["zone"])
    released = state == ReleaseState.HANDED_OVER and release["run_at"] <= now  # SendGrid sent it: the ledger's status
    # A stopped run, or a subject test waiting for its pick ('testing'): the ledger says.
    waiting_for_pick = state == ReleaseState.SCHEDULED and row.get("status") == "testing"
    if state in not_run and not released and not waiting_for_pick:
        row["status"] = state
    if row["paused"]:
        row["status"] = "paused"
    return row


def send_log(settings: Settings, send_id: int) -> list[dict[str, Any]]:
    """The audit log of a send (and the approvals of its issue and list), oldest first."""
    from newsletter.store import audit, sends
    from newsletter.store import releases as store

    with _session(settings) as conn:
        found = sends.get_send(conn, send_id)
        release = store.get(conn, send_id)
        if found is None and release is None:
            raise InputError("no such send (see `newsletter sends`)", subject=str(send_id))
        if release is not None:
            slug, list_name = release["slug"], release["list_name"]
        else:
            listed = sends.listing(conn, send_id)[0]
            slug, list_name = listed["slug"], listed["list"]
        return audit.entries(conn, send_id, slug, list_name)
