"""Welcome emails and sequences as the user handles them: attach one to a list (``lists set --welcome``,
``--sequence``), take it off, restart it for some people, and see where everyone stands
(``sequences show``). The worker sends the steps (``release/sequence_steps.py``).

A welcome email is a sequence of one step named ``welcome``: one code path for both. Attaching checks
the whole file (every issue composed) and snapshots its steps as the sequence's version; whoever joins
the list from then on is enrolled in the transaction that makes them a member (``store/sequences.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter.errors import InputError
from newsletter.release.clock import Clock, system_clock
from newsletter.release.sequence_file import Step, read_steps, steps_json, welcome_steps
from newsletter.settings import Settings

if TYPE_CHECKING:
    from newsletter.store import DB

WELCOME = "welcome"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Attached:
    """What ``attach_*`` did: the sequence, its list, 'attached' or 'updated', its version and steps."""

    name: str
    list_name: str
    action: str
    version: int
    steps: list[Step]

    def line(self) -> str:
        """'Sequence 'welcome' attached to list news (version 1): 1 step: ...'."""
        shown = "; ".join(f"{Path(s.issue).name} {s.delay()}" + (f" where {' '.join(map(str, s.where))}" if s.where
                                                                    else "") for s in self.steps)
        count = f"{len(self.steps)} step" + ("s" if len(self.steps) != 1 else "")
        return f"Sequence {self.name!r} {self.action} on list {self.list_name} (version {self.version}): {count}: {shown}"

    def approval_lines(self, required: int) -> list[str]:
        """While sends need ``required`` approvals: how to approve each step's email (nothing is sent before)."""
        from newsletter.release.step_approvals import shown_path

        if required <= 0:
            return []
        return [f"Each step waits for {required} approval(s) of its email's build; review each, then:"] + [
            f"  newsletter approve {shown_path(s.issue)} --list {self.list_name} --sequence {self.name}" for s in self.steps]


def _list_id(conn: DB, list_name: str) -> int:
    from newsletter.store import subscribers as people

    list_id = people.find_list(conn, list_name)
    if list_id is None:
        raise InputError("no such list (see `newsletter lists`)", subject=list_name)
    return list_id


def _attach(settings: Settings, list_name: str, name: str, kind: str, source: tuple[Path, Path, list[Step]]) -> Attached:
    from newsletter.store import sequences as store
    from newsletter.store import session

    path, root, steps = source
    text, digest = steps_json(steps)
    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        list_id = _list_id(conn, list_name)
        _, version, action = store.attach(conn, store.Attachment(list_id, name, kind, str(path), str(root), text, digest))
    return Attached(name, list_name, action, version, steps)


def attach_welcome(list_name: str, issue: str | Path, settings: Settings) -> Attached:
    """Make ``issue`` the list's welcome email (its sequence 'welcome'; replaced if it had one)."""
    path = Path(issue).resolve()
    if not path.is_file():
        raise InputError("file not found", subject=str(issue))
    steps = welcome_steps(path, settings)
    return _attach(settings, list_name, WELCOME, "welcome", (path, path.parent, steps))


def attach_file(list_name: str, file: str | Path, settings: Settings, *, root: Path | None = None) -> Attached:
    """Attach the sequence file ``file`` to the list (named after the file; updated if attached before).
    Relative issue paths in it start at ``root`` (default: the current folder, the repository root)."""
    path = Path(file).resolve()
    name = path.stem if path.suffix.lower() == ".toml" else path.name
    if not _NAME.fullmatch(name) or name == WELCOME:
        raise InputError("a sequence file is named NAME.toml: 1-64 letters, digits, '.', '_' or '-', "
                         f"and not {WELCOME!r} (that is --welcome)", subject=str(file))
    root = (root or Path.cwd()).resolve()
    steps = read_steps(path, root, settings)
    return _attach(settings, list_name, name, "file", (path, root, steps))


def detach(list_name: str, name: str, settings: Settings) -> bool:
    """Take sequence ``name`` (``welcome`` for the welcome email) off the list; False if it had none.
    Enrolments and ledger rows stay: attached again, each member goes on where they were."""
    from newsletter.store import sequences as store
    from newsletter.store import session

    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        return store.detach(conn, _list_id(conn, list_name), name)


def _one(conn: DB, name: str, list_name: str | None) -> dict[str, Any]:
    from newsletter.store import sequences as store

    found = store.find(conn, name, list_name)
    if not found:
        where = f" on list {list_name!r}" if list_name else ""
        raise InputError(f"no such sequence{where} (see `newsletter sequences`)", subject=name)
    if len(found) > 1:
        lists = ", ".join(f["list"] for f in found)
        raise InputError(f"lists {lists} each have a sequence of that name: pass --list", subject=name)
    return found[0]


def restart(name: str, emails: list[str], settings: Settings, *, list_name: str | None = None) -> int:
    """Start sequence ``name`` again for these subscribers (a new round, from its first step, with its current
    version); return how many. Each must be a subscriber; the round starts whether or not they are on the
    list (the worker sends steps only to members)."""
    from newsletter.email_validation import normalize_email
    from newsletter.store import sequences as store
    from newsletter.store import session
    from newsletter.store import subscribers as people

    if not emails:
        raise InputError("name at least one EMAIL", subject="EMAIL")
    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        sequence = _one(conn, name, list_name)
        ids = []
        for email in emails:
            found = people.find_subscriber(conn, normalize_email(email))
            if found is None:
                raise InputError("no such subscriber", subject=email)
            ids.append(found.id)
        return store.restart(conn, sequence["id"], sorted(set(ids)))


def list_sequences(settings: Settings) -> list[dict[str, Any]]:
    """Every attached sequence: list, name, kind, file, version, rounds, how many are enrolled."""
    from newsletter.store import sequences as store
    from newsletter.store import session

    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        return [{"name": r["name"], "list": r["list"], "kind": r["kind"], "path": r["path"], "version": r["version"],
                 "enrolled": r["enrolled"], "updated_at": r["updated_at"], "paused_at": r["paused_at"],
                 "paused_by": r["paused_by"]} for r in store.attached(conn)]


@dataclass
class StepCounts:
    """One step of a sequence's current version with its members by where they stand."""

    number: int
    issue: str
    delay: str
    where: str
    waiting: int = 0  # enrolled, on the list, this is their next step, not due yet
    due: int = 0  # due now: the worker writes their row at its next look (once resumed, if paused)
    pending: int = 0  # in the ledger, not handed over yet (queued, claimed, sending)
    sent: int = 0
    suppressed: int = 0  # left before it was sent, or did not match its conditions
    skipped: int = 0
    failed: int = 0
    in_doubt: int = 0
    approval: str = ""  # while sends need approvals: 'approved (build ...)', 'waiting for approval (build ...)'
    held: int = 0  # due or queued, and held back until the step's build is approved

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return dict(self.__dict__)


@dataclass
class SequenceView:
    """``sequences show``: a sequence, its steps with counts, and its enrolment."""

    name: str
    list_name: str
    kind: str
    path: str
    version: int
    enrolled: int = 0
    finished: int = 0
    steps: list[StepCounts] = field(default_factory=list)
    paused_at: str | None = None  # `sequences pause`: nothing goes out until resumed
    paused_by: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"name": self.name, "list": self.list_name, "kind": self.kind, "path": self.path,
                "version": self.version, "enrolled": self.enrolled, "finished": self.finished,
                "paused_at": self.paused_at, "paused_by": self.paused_by,
                "steps": [s.as_dict() for s in self.steps]}


def show(name: str, settings: Settings, *, list_name: str | None = None, clock: Clock = system_clock) -> SequenceView:
    """Sequence ``name`` with each step of its current version and its counts (``InputError`` if unknown)."""
    from newsletter.compose.source import read_slug
    from newsletter.store import sequences as store
    from newsletter.store import session

    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        sequence = _one(conn, name, list_name)
        view = SequenceView(sequence["name"], sequence["list"], sequence["kind"], sequence["path"], sequence["version"],
                            paused_at=sequence["paused_at"], paused_by=sequence["paused_by"])
        current = [Step.from_dict(s) for s in store.steps_of(conn, sequence["id"], sequence["version"])]
        for number, step in enumerate(current, start=1):
            counts = StepCounts(number, step.issue, step.delay(), " ".join(map(str, step.where)))
            try:
                states = store.step_states(conn, sequence["list_id"], read_slug(step.issue), sequence["name"])
            except InputError:
                states = {}  # its issue file is gone: nothing of it can have been sent since
            counts.pending = sum(states.get(s, 0) for s in ("queued", "claimed", "sending"))
            counts.sent, counts.failed = states.get("accepted", 0), states.get("failed", 0)
            counts.suppressed, counts.skipped = states.get("suppressed", 0), states.get("skipped", 0)
            counts.in_doubt = states.get("in_doubt", 0)
            view.steps.append(counts)
        _stand(conn, sequence, view, clock())
        if settings.newsletter_required_approvals > 0:
            _approvals(conn, sequence, (current, view.steps), settings)
    return view


def _approvals(conn: DB, sequence: dict[str, Any], steps: tuple[list[Step], list[StepCounts]],
               settings: Settings) -> None:
    """Whether each step's email as it is now has the approvals sends need, and who it holds back."""
    from newsletter.compose import compose_checked
    from newsletter.release.step_approvals import StepOf, step_verdict

    for step, counts in zip(*steps, strict=True):
        try:
            verdict = step_verdict(conn, compose_checked(step.issue, settings),
                                   StepOf(sequence["list"], sequence["name"]), settings)
        except InputError as exc:
            counts.approval, counts.held = f"cannot check its approvals: {exc}", counts.due + counts.pending
            continue
        people = len(verdict.people)
        if verdict.ok:
            counts.approval = f"approved (build {verdict.build.short}, {people} of {verdict.required} approval(s))"
        else:
            counts.approval = (f"waiting for approval (build {verdict.build.short}, {people} of {verdict.required} "
                               "approval(s))")
            counts.held = counts.due + counts.pending


def _stand(conn: DB, sequence: dict[str, Any], view: SequenceView, now: datetime) -> None:
    """Fill in who waits for which step (current version's numbering) and who is due now."""
    from newsletter.release.sequence_steps import due_steps
    from newsletter.store import sequences as store

    lengths = {v: len(store.steps_of(conn, sequence["id"], v)) for v in store.versions_of(conn, sequence["id"])}
    for version, _round, step, n in store.waiting(conn, sequence["id"], sequence["list_id"]):
        view.enrolled += n
        if step >= lengths.get(version, 0):
            view.finished += n
        elif step < len(view.steps):
            view.steps[step].waiting += n
    try:
        counted = due_steps(conn, sequence, now)
    except InputError:
        counted = []  # a step's issue file is gone: the worker logs it; nobody is due for it meanwhile
    for due, count in counted:
        if due.index < len(view.steps):
            view.steps[due.index].due += count
            view.steps[due.index].waiting -= count


def members(name: str, settings: Settings, *, list_name: str | None = None) -> Iterator[dict[str, Any]]:
    """Where each enrolled member stands (streamed, in subscriber order): email, round, version, the next step
    (1-based; 'finished' after the last), when they entered and whether they are on the list now."""
    from newsletter.store import connect
    from newsletter.store import sequences as store

    conn = connect(settings.newsletter_database, timeout=settings.newsletter_database_timeout)
    try:
        sequence = _one(conn, name, list_name)
    except BaseException:
        conn.close()
        raise
    lengths = {v: len(store.steps_of(conn, sequence["id"], v)) for v in store.versions_of(conn, sequence["id"])}

    def rows() -> Iterator[dict[str, Any]]:
        try:
            for row in store.iter_members(conn, sequence["id"], sequence["list_id"]):
                total = lengths.get(row["version"], 0)
                if row["ended_at"]:
                    stands = "restarted"
                elif row["step"] >= total:
                    stands = "finished"
                elif not row["on_list"]:
                    stands = "left"
                else:
                    stands = f"next step {row['step'] + 1} of {total}"
                yield {**row, "stands": stands}
        finally:
            conn.close()

    return rows()
