"""``approve`` an issue's build for an audience, and ``review`` the approvals on file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from newsletter.compose.build import identify
from newsletter.errors import InputError
from newsletter.release import members as audiences
from newsletter.release import ssh
from newsletter.release.approvals import (
    SIGNATURE_WORDS,
    Approval,
    append,
    approvals_path,
    identity,
    load,
    signature_status,
    signing_key,
)
from newsletter.release.clock import Clock, stamp, system_clock
from newsletter.release.gate import Target, judge
from newsletter.release.step_approvals import StepOf, enrolled, step_build, step_sequence
from newsletter.settings import Settings

if TYPE_CHECKING:
    from newsletter.compose.model import ComposeResult
    from newsletter.delivery.plan import SendOptions


def target(conn: Any, result: ComposeResult, options: SendOptions) -> Target:
    """The build for ``options`` and the members it reaches now (``InputError`` for an unknown list or segment)."""
    from newsletter.store import sends
    from newsletter.store import subscribers as people
    from newsletter.store.segments import resolve

    list_id = people.find_list(conn, options.list_name)
    if list_id is None:
        raise InputError("no such list (see `newsletter lists`)", subject=options.list_name)
    audience = resolve(conn, options.list_name, options.where, options.segment, list_id=list_id,
                       non_readers_of=options.non_readers_of)
    if options.non_readers_of is not None:
        sends.check_source(conn, options.non_readers_of, list_id, options.list_name, result.issue.slug)
    build = identify(result, audience)
    members = audiences.live_members(conn, list_id, audience)
    return Target(build, members, list_id, audience, members.count)


@dataclass
class Approved:
    """What ``approve`` did."""

    approval: Approval
    path: Path
    added: bool  # False: this person had already approved this build


class Signing(NamedTuple):
    """Sign an approval with an SSH key: ``key`` (a file or a key), else git's ``user.signingkey``."""

    key: str | None = None


def approve(issue: str | Path, options: SendOptions, settings: Settings, *, note: str = "", as_: str | None = None,
            signing: Signing | None = None, clock: Clock = system_clock) -> Approved:
    """Record (in the approvals file, and the audit log) that someone approved this build for this audience;
    with ``signing``, the approval carries an SSH signature."""
    from newsletter.compose import compose_checked
    from newsletter.delivery.send import check_resend_options, subject_of
    from newsletter.store import audit, sends, session
    from newsletter.store import releases as store

    issue = Path(issue)
    check_resend_options(options)
    result = subject_of(compose_checked(issue, settings), options)
    who = identity(as_, issue.resolve().parent)
    path = approvals_path(issue)
    now = stamp(clock())
    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        found = target(conn, result, options)
        assert found.members is not None
        approval = Approval(found.build, who, now, found.members.count, found.members.digest, note=note,
                            segment=options.segment or "")
        earlier = _already(path, approval, settings, signing)
        if earlier is not None:
            return Approved(earlier, path, added=False)
        _sign(approval, signing, issue)
        store.save_snapshot(conn, found.members.digest, found.members.ids, now=now)
        append(path, approval)
        send = sends.find_send(conn, result.issue.slug, found.list_id, found.audience.key)
        audit.record(conn, "approve", audit.Logged(send["id"] if send else None, result.issue.slug, options.list_name),
                     at=now, actor=who,
                     detail=f"build {found.build.short}, {found.members.count} recipient(s)"
                            + (", signed" if signing is not None else "") + (f": {note}" if note else ""))
    return Approved(approval, path, added=True)


def _already(path: Path, approval: Approval, settings: Settings, signing: Signing | None) -> Approval | None:
    """This person's approval of this build and audience already on file (signed, if ``signing``)."""
    for earlier in load(path):
        if (earlier.build.id, earlier.person, earlier.audience_digest) == (
                approval.build.id, approval.person, approval.audience_digest) and \
                signature_status(earlier, settings) != "bad" and (earlier.signature or signing is None):
            return earlier
    return None


def _sign(approval: Approval, signing: Signing | None, issue: Path) -> None:
    if signing is not None:
        approval.signature = ssh.sign(approval.message(), signing_key(signing.key, issue.resolve().parent))


def approve_step(issue: str | Path, of: StepOf, settings: Settings, *, note: str = "", as_: str | None = None,
                 signing: Signing | None = None, clock: Clock = system_clock) -> Approved:
    """Approve this build of a welcome email's or sequence's step (``approve --sequence``): as ``approve``,
    with the sequence standing in for the audience (``release/step_approvals.py``). The approval records
    how many are enrolled now, for the reader; it is not compared later (the sequence grows by design)."""
    from newsletter.compose import compose_checked
    from newsletter.store import audit, session
    from newsletter.store import sequences as sequences_store

    issue = Path(issue)
    result = compose_checked(issue, settings)
    who = identity(as_, issue.resolve().parent)
    path = approvals_path(issue)
    now = stamp(clock())
    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        sequence = step_sequence(conn, issue, of)
        build = step_build(result, of)
        approval = Approval(build, who, now, enrolled(conn, sequence), "", note=note)
        earlier = _already(path, approval, settings, signing)
        if earlier is not None:
            return Approved(earlier, path, added=False)
        _sign(approval, signing, issue)
        append(path, approval)
        send_id = sequences_store.step_send(conn, result.issue.slug, sequence["list_id"], of.audience.key)
        audit.record(conn, "approve", audit.Logged(send_id or None, result.issue.slug, of.list_name), at=now,
                     actor=who, detail=f"build {build.short} for sequence {of.sequence!r}"
                                       + (", signed" if signing is not None else "") + (f": {note}" if note else ""))
    return Approved(approval, path, added=True)


@dataclass
class Reviewed:
    """One approval on file, checked against the issue as it is now."""

    approval: Approval
    signature: str  # SIGNATURE_WORDS
    counted: bool  # counts towards the gate for the current build
    reason: str = ""


@dataclass
class Review:
    """The approvals of an issue and whether each still matches."""

    path: Path
    required: int
    reviewed: list[Reviewed] = field(default_factory=list)


def review(issue: str | Path, settings: Settings) -> Review:
    """Every approval on file for ``issue``: its signature, and whether it matches the current build and audience."""
    from newsletter.compose import compose_checked
    from newsletter.delivery.plan import SendOptions
    from newsletter.delivery.send import subject_of
    from newsletter.store import session

    issue = Path(issue)
    path = approvals_path(issue)
    found = Review(path, settings.newsletter_required_approvals)
    approvals = load(path)
    if not approvals:
        return found
    result = compose_checked(issue, settings, allow_errors=True)
    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        for approval in approvals:
            audience = approval.build.audience
            status = SIGNATURE_WORDS[signature_status(approval, settings)]
            if audience.sequence is not None:  # a step's: the build alone is compared (see step_approvals)
                build = step_build(result, StepOf(audience.list_name, audience.sequence))
                one = judge(conn, build, None, 0, [approval], settings).judged[0]
                found.reviewed.append(Reviewed(approval, status, one.counted, one.reason))
                continue
            # A resend's approval names its own subject (``send --subject``): compare with the issue under it.
            subject = approval.build.facts.get("subject") if audience.non_readers_of is not None else None
            options = SendOptions(audience.list_name, where=tuple(str(c) for c in audience.conditions),
                                  non_readers_of=audience.non_readers_of, subject=subject)
            try:
                now = target(conn, subject_of(result, options), options)
            except InputError as exc:
                found.reviewed.append(Reviewed(approval, status, False, f"cannot check: {exc}"))
                continue
            assert now.members is not None
            judged = judge(conn, now.build, now.members, now.list_id, [approval], settings).judged[0]
            found.reviewed.append(Reviewed(approval, status, judged.counted, judged.reason))
    return found
