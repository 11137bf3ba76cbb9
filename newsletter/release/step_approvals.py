"""Approvals of the steps of welcome emails and sequences, while sends need them (``NEWSLETTER_REQUIRED_APPROVALS``).

A step's email is approved per build like any issue (``newsletter approve ISSUE --list news --sequence
welcome``), with the sequence standing in for the audience: the build's audience part names the list and
the sequence. A sequence's members grow with every signup, so the member count and the "audience changed
since the approval" comparison an ordinary send gets do not apply: the approval is of this email for
whoever the sequence reaches (its steps' delays and conditions are in the sequence file, reviewed in the
repository with it). An edited email is a new build, and waits for approvals of its own.

The worker (``release/sequence_steps.py``) asks ``step_verdict`` before it writes a step's ledger rows or runs
its send; ``sequences show`` and ``newsletter approvals`` ask the same question.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from newsletter.compose.build import Build, identify
from newsletter.errors import InputError
from newsletter.release.approvals import approvals_path, load
from newsletter.release.gate import Verdict, judge
from newsletter.settings import Settings

if TYPE_CHECKING:
    from newsletter.compose.model import ComposeResult
    from newsletter.store import DB
    from newsletter.store.segments import Audience


class StepOf(NamedTuple):
    """Whose step an email is: sequence ``sequence`` (``welcome`` for the welcome email) of list ``list_name``."""

    list_name: str
    sequence: str

    @property
    def audience(self) -> Audience:
        """The audience of its builds: the list and the sequence."""
        from newsletter.store.segments import Audience

        return Audience.of(self.list_name, (), sequence=self.sequence)


def step_build(result: ComposeResult, of: StepOf) -> Build:
    """The build of a step's email as composed now, for its sequence."""
    return identify(result, of.audience)


def step_verdict(conn: DB, result: ComposeResult, of: StepOf, settings: Settings) -> Verdict:
    """Which approvals beside the step's issue count for its build now, and whether there are enough."""
    return judge(conn, step_build(result, of), None, 0, load(approvals_path(result.issue.path)), settings)


def step_sequence(conn: DB, issue: str | Path, of: StepOf) -> dict[str, Any]:
    """The attached sequence ``of`` names, checked: the list exists, the sequence is attached to it, and
    ``issue`` is one of its steps (in any of its versions); ``InputError`` (exit 2) saying which is not so."""
    from newsletter.store import sequences as store
    from newsletter.store import subscribers as people

    if people.find_list(conn, of.list_name) is None:
        raise InputError("no such list (see `newsletter lists`)", subject=of.list_name)
    found = store.find(conn, of.sequence, of.list_name)
    if not found:
        raise InputError(f"list {of.list_name} has no sequence of that name (see `newsletter sequences`)",
                         subject=f"--sequence {of.sequence}")
    sequence = found[0]
    path = Path(issue).resolve()
    for version in store.versions_of(conn, sequence["id"]):
        if any(Path(step["issue"]).resolve() == path for step in store.steps_of(conn, sequence["id"], version)):
            return sequence
    raise InputError(f"is not a step of sequence {of.sequence!r} of list {of.list_name} "
                     "(see `newsletter sequences show`)", subject=str(issue))


def enrolled(conn: DB, sequence: dict[str, Any]) -> int:
    """How many are enrolled in the sequence and on the list now (what an approval records as its count)."""
    from newsletter.store import sequences as store

    return sum(n for *_, n in store.waiting(conn, sequence["id"], sequence["list_id"]))


def check_step_options(where: tuple[str, ...], segment: str | None, non_readers_of: int | None,
                       subject: str | None) -> None:
    """``InputError`` (exit 2) for an option that does not go with ``approve --sequence``."""
    given = [name for name, value in (("--where", where), ("--segment", segment),
                                      ("--to-non-readers-of", non_readers_of), ("--subject", subject))
             if value]
    if given:
        raise InputError(f"does not go with {given[0]}: a step goes to the sequence's members (its conditions "
                         "are in the sequence file)", subject="--sequence")


def shown_path(issue: str | Path) -> str:
    """An issue path as the user names it: relative to the current folder when it is under it."""
    try:
        return str(Path(issue).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(issue)
