"""The gate before a send, and the controls during it: ``ReleaseHooks`` (the engine's ``SendHooks``).

Before anything is written, ``check`` refuses a send that

- is paused, cancelled, or scheduled (only the worker starting it may run it);
- is a scheduled send whose build changed since it was scheduled;
- has fewer than ``NEWSLETTER_REQUIRED_APPROVALS`` approvals from distinct
  people of exactly this build, saying what changed since each approval that
  no longer counts (subject, HTML, text, links, layout, audience) and by how
  much (the audience: how many joined, left or unsubscribed since).

Once the run holds its lease, ``run_started`` records it (the ``releases``
row and the audit log) and hands the run loop a stop event that is also set
by a pause in the store, so ``newsletter pause`` stops the run after the
batches in flight.
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter.compose.build import Build, changes, identify
from newsletter.release import ReleaseRefused
from newsletter.release import members as audiences
from newsletter.release.approvals import (
    SIGNATURE_WORDS,
    Approval,
    approvals_path,
    load,
    signature_counts,
    signature_status,
)
from newsletter.release.clock import Clock, stamp, system_clock
from newsletter.release.pause_watch import PauseWatch
from newsletter.settings import Settings
from newsletter.store.releases import WAITING, ReleaseState, Route

if TYPE_CHECKING:
    from newsletter.compose.model import ComposeResult
    from newsletter.delivery.base import Mailing
    from newsletter.delivery.plan import SendOptions, SendPlan
    from newsletter.store.segments import Audience


class Mode(StrEnum):
    """What the caller of the gate is doing."""

    NOW = "now"  # a send from a terminal
    SCHEDULE = "schedule"  # a check before scheduling (a dry run)
    START = "start"  # a worker starting a scheduled send
    HANDOVER = "handover"  # handing every batch to SendGrid with send_at


#: The route a release row records for each mode that runs a send.
ROUTES = {Mode.NOW: Route.NOW, Mode.START: Route.WORKER, Mode.HANDOVER: Route.SENDGRID}


@dataclass
class Judged:
    """One approval as the gate sees it."""

    approval: Approval
    counted: bool
    reason: str = ""  # why it does not count, or a note on one that does


@dataclass
class Verdict:
    """The approvals of a build: which count, and whether there are enough."""

    build: Build
    required: int
    judged: list[Judged] = field(default_factory=list)

    @property
    def people(self) -> list[str]:
        """Distinct approvers whose approval counts."""
        return sorted({j.approval.person for j in self.judged if j.counted})

    @property
    def ok(self) -> bool:
        """Enough distinct people approved this build."""
        return len(self.people) >= self.required

    def message(self, issue: str | Path, subject: str | None = None) -> str:
        """One line: what is needed, what there is, and why each other approval does not count."""
        people = self.people
        text = (f"needs {self.required} approval(s) from distinct people of build {self.build.short} "
                f"({self.build.audience.describe()}), has {len(people)}" + (f" ({', '.join(people)})" if people else ""))
        reasons = [f"{j.approval.person} approved {j.approval.build.short}: {j.reason}"
                   for j in self.judged if not j.counted]
        if reasons:
            text += "; not counted: " + "; ".join(reasons)
        audience = self.build.audience
        hint = f"newsletter approve {issue} --list {audience.list_name}" + "".join(f" --where '{c}'" for c in audience.conditions)
        if audience.sequence is not None:
            hint += f" --sequence {audience.sequence}"
        if audience.non_readers_of is not None:
            hint += f" --to-non-readers-of {audience.non_readers_of}"
        if subject is not None:
            hint += " --subject " + shlex.quote(subject)
        return f"{text}. Review it, then: {hint}"


def judge(conn: Any, build: Build, members: audiences.Members | None, list_id: int, approvals: Sequence[Approval],
          settings: Settings) -> Verdict:
    """Which of ``approvals`` count for ``build`` going to ``members`` (see the module doc).

    ``members`` is ``None`` for a step of a welcome email or sequence: its audience is the sequence, whose
    members grow with every signup, so only the build (the sequence named in its audience) is compared."""
    verdict = Verdict(build, settings.newsletter_required_approvals)
    for approval in approvals:
        status = signature_status(approval, settings)
        if not signature_counts(status, settings):
            verdict.judged.append(Judged(approval, False, SIGNATURE_WORDS[status]))
            continue
        differs = changes(approval.build, build) if approval.build.id != build.id else []
        if members is None:
            verdict.judged.append(Judged(approval, not differs, "differs in " + ", ".join(differs) if differs else ""))
            continue
        change = audiences.change_since(conn, list_id, approval.audience_count, approval.audience_digest, members)
        if differs or not change.acceptable:
            if not change.same and approval.build.audience == build.audience:
                differs.append(f"audience ({change.describe()})")
            verdict.judged.append(Judged(approval, False, "differs in " + ", ".join(differs)))
            continue
        note = "" if change.same else f"audience {change.describe()}"
        verdict.judged.append(Judged(approval, True, note))
    return verdict


@dataclass(frozen=True)
class Target:
    """What a send will deliver and to whom, as the gate computed it."""

    build: Build
    members: audiences.Members | None  # computed when approvals are required (or asked for)
    list_id: int
    audience: Audience
    recipients: int = 0  # as the plan counted them


@dataclass
class ReleaseHooks:
    """The gate and controls of one send (the engine's ``SendHooks``); see the module doc."""

    settings: Settings
    issue: Path
    options: SendOptions
    mode: Mode = Mode.NOW
    actor: str = ""
    clock: Clock = system_clock
    send_at: datetime | None = None  # handover: when SendGrid releases the batches
    zone: str = ""
    batch_id: str = ""
    target: Target | None = None
    send_id: int | None = None
    watch: PauseWatch | None = None

    def __post_init__(self) -> None:
        self.mode = Mode(self.mode)  # ValueError for an unknown one

    # --- before anything is written -------------------------------------------------

    def check(self, conn: Any, plan: SendPlan, result: ComposeResult, list_id: int) -> None:
        """Refuse (``ReleaseRefused``) a send that is paused, scheduled, changed or not approved enough."""
        from newsletter.store import releases as store

        row = store.get(conn, plan.send_id) if plan.send_id is not None else None
        if row is not None:
            self._check_state(row, conn)
        audience = plan.audience
        build = identify(result, audience)
        required = self.settings.newsletter_required_approvals
        members = self._members(conn, plan, list_id, audience, row) if required else None
        self.target = Target(build, members, list_id, audience, plan.total)
        if self.mode == Mode.START and row is not None and row["build_id"] != build.id:
            what = ", ".join(changes(Build.from_dict(row["build"]), build))
            raise ReleaseRefused(f"the issue changed since send {plan.send_id} was scheduled: {what}; "
                                 "schedule it again to send this version", subject=str(self.issue))
        if members is not None:
            verdict = judge(conn, build, members, list_id, load(approvals_path(self.issue)), self.settings)
            if not verdict.ok:
                raise ReleaseRefused(verdict.message(self.issue, self.options.subject), subject=str(self.issue))

    def _check_state(self, row: dict[str, Any], conn: Any) -> None:
        send_id = row["send_id"]
        if row["paused_at"] and self.mode != Mode.SCHEDULE:
            raise ReleaseRefused(f"send {send_id} is paused (by {row['paused_by'] or 'someone'} at {row['paused_at']}); "
                                 f"`newsletter resume {send_id}` continues it", subject=str(self.issue))
        waiting = row["state"] in WAITING
        if waiting and not (self.mode == Mode.START or (self.mode == Mode.HANDOVER and row["batch_id"] == self.batch_id)):
            from newsletter.release.when import local_text

            when = local_text(_utc(row["run_at"]), self.settings.newsletter_timezone or row["zone"])
            from newsletter.store import subject_tests

            test = subject_tests.get(conn, send_id)
            if test is not None and test["winner"] is None:
                raise ReleaseRefused(f"send {send_id} waits for its subject test's pick at {when} (a `newsletter "
                                     f"worker` makes it and sends the rest); `newsletter pick {send_id} VARIANT` "
                                     "decides now", subject=str(self.issue))
            raise ReleaseRefused(f"send {send_id} is scheduled for {when}; `newsletter cancel {send_id}` first "
                                 "to send or schedule it differently", subject=str(self.issue))

    def _members(self, conn: Any, plan: SendPlan, list_id: int, audience: Audience,
                 row: dict[str, Any] | None) -> audiences.Members:
        """Who this send would reach: the fixed ledger of a send that has one, else the list now."""
        from newsletter.store import releases as store

        live = audiences.live_members(conn, list_id, audience)
        if plan.send_id is None or (self.mode == Mode.SCHEDULE and not _started(plan)):
            return live
        ledger = store.ledger_members(conn, plan.send_id)
        if not ledger:
            return live
        return audiences.Members.of(set(ledger) | set(live.ids) if plan.options.include_new else ledger)

    # --- during the run ------------------------------------------------------------

    def run_started(self, conn: Any, send_id: int, stop: threading.Event) -> threading.Event:
        """Record the start (releases row, audit log); return a stop event that a pause also sets."""
        from newsletter.store import audit
        from newsletter.store import releases as store

        now = stamp(self.clock())
        target = self.target
        values: dict[str, Any] = {
            "slug": _slug_of(conn, send_id), "list_name": self.options.list_name,
            "audience": target.audience.key if target else "", "issue_path": str(self.issue.resolve()),
            "options": options_dict(self.options), "state": ReleaseState.RUNNING, "claimed_by": self.actor,
            "error": "", "mode": ROUTES.get(self.mode, Route.NOW),
        }
        if target is not None:
            values.update(build_id=target.build.id, build=target.build.as_dict())
        if self.mode == Mode.HANDOVER and self.send_at is not None:
            values.update(run_at=stamp(self.send_at), zone=self.zone, batch_id=self.batch_id)
        store.save(conn, send_id, now=now, **values)
        detail = f"build {target.build.short}, {target.recipients} recipient(s)" if target else ""
        about = audit.Logged(send_id, values["slug"], self.options.list_name)
        if self.mode == Mode.HANDOVER and self.send_at is not None:
            from newsletter.release.when import local_text

            audit.record(conn, "schedule", about, at=now, actor=self.actor, detail=f"for {local_text(self.send_at, self.zone)} via SendGrid "
                                                  f"(batch {self.batch_id}), {detail}")
            detail = f"handing the batches to SendGrid (send_at {values['run_at']})"
        audit.record(conn, "start", about, at=now, actor=self.actor, detail=detail)
        self.send_id = send_id
        self.watch = PauseWatch(stop, lambda: store.is_paused(conn, send_id))
        return self.watch

    def mailing(self, mailing: Mailing) -> Mailing:
        """When handing over: the mailing with ``send_at`` and ``batch_id`` (SendGrid only); else unchanged."""
        if self.mode != Mode.HANDOVER or self.send_at is None:
            return mailing
        from dataclasses import replace

        from newsletter.errors import ConfigError

        if self.settings.newsletter_backend != "sendgrid":
            raise ConfigError("only the sendgrid backend can hand batches over with send_at",
                              subject="NEWSLETTER_BACKEND")
        return replace(mailing, send_at=self.send_at, batch_id=self.batch_id)

    @property
    def paused(self) -> bool:
        """Whether the run stopped because the send was paused."""
        return bool(self.watch and self.watch.paused)


def _started(plan: SendPlan) -> bool:
    return bool(plan.already_accepted or plan.in_doubt or plan.failed)


def _utc(text: str) -> datetime:
    from newsletter.release.clock import parse_stamp

    return parse_stamp(text)


def _slug_of(conn: Any, send_id: int) -> str:
    from newsletter.store import sends

    found = sends.get_send(conn, send_id)
    return str(found["slug"]) if found else ""


#: The ``SendOptions`` fields a scheduled or paused send is continued with.
KEPT_OPTIONS = ("list_name", "rate", "allow_changed", "retry_failed", "include_new", "where", "segment",
                "non_readers_of", "subject")
#: Kept only when set, so the options of every other send stay what they were.
_KEPT_WHEN_SET = ("non_readers_of", "subject")


def options_dict(options: SendOptions) -> dict[str, Any]:
    """The options worth keeping to continue a send later (JSON-friendly)."""
    return {name: list(v) if isinstance(v := getattr(options, name), tuple) else v for name in KEPT_OPTIONS
            if not (name in _KEPT_WHEN_SET and getattr(options, name) is None)}


def options_from(data: dict[str, Any]) -> SendOptions:
    """``SendOptions`` back from ``options_dict``."""
    from newsletter.delivery.plan import SendOptions

    kept = {k: v for k, v in data.items() if k in KEPT_OPTIONS}
    kept["where"] = tuple(kept.get("where") or ())
    return SendOptions(**kept)

