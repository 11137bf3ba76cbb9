"""Sequence files: a small TOML file of steps beside the issues, read and checked in full.

```toml
# sequences/onboarding.toml
[[step]]
issue = "issues/onboarding-1.md"
after_joining = "1h"
[[step]]
issue = "issues/onboarding-2.md"
after_previous = "3d"
where = ["plan=pro", "country!=DE"]   # optional: as `send --where`
```

Each step names an issue file (relative paths start at the folder ``lists set`` ran in, the repository
root) and exactly one delay: ``after_joining`` (from the moment the member joined) or ``after_previous``
(from the moment the previous step's row was decided). The first step waits ``after_joining``. A problem
is one ``InputError`` naming the file, the step and what is wrong. A welcome email is the same thing
with one step: ``welcome_steps``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter.durations import parse_duration
from newsletter.errors import InputError, NewsletterError
from newsletter.store.segments import Condition, parse_conditions

if TYPE_CHECKING:
    from newsletter.settings import Settings

STEP_KEYS = ("issue", "after_joining", "after_previous", "where")
#: The most steps a sequence may have.
MAX_STEPS = 50


@dataclass(frozen=True)
class Step:
    """One step: its issue file (absolute), its delay in seconds, and the conditions a member must match."""

    issue: str
    after_joining: int | None = None
    after_previous: int | None = None
    where: tuple[Condition, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The step as its version snapshot stores it (JSON)."""
        return {"issue": self.issue, "after_joining": self.after_joining, "after_previous": self.after_previous,
                "where": [str(c) for c in self.where]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Step:
        """Back from ``as_dict`` (a stored version)."""
        return cls(str(data["issue"]), data.get("after_joining"), data.get("after_previous"),
                   tuple(parse_conditions(data.get("where") or ())))

    def delay(self) -> str:
        """'1h after joining', '3d after the previous step'."""
        if self.after_previous is not None:
            return f"{_duration_text(self.after_previous)} after the previous step"
        return f"{_duration_text(self.after_joining or 0)} after joining"


def _duration_text(seconds: int) -> str:
    if seconds == 0:
        return "at once"
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def steps_json(steps: list[Step]) -> tuple[str, str]:
    """The steps as stored (canonical JSON) and their SHA-256: equal steps, equal digest."""
    text = json.dumps([s.as_dict() for s in steps], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return text, hashlib.sha256(text.encode("utf-8")).hexdigest()


def welcome_steps(issue: Path, settings: Settings | None = None) -> list[Step]:
    """A welcome email: one step, at once after joining (its issue composed and checked with ``settings``)."""
    step = Step(str(issue.resolve()), after_joining=0)
    _check_issue(issue, step, settings)
    return [step]


def read_steps(path: Path, root: Path, settings: Settings | None = None) -> list[Step]:
    """The steps of the sequence file at ``path`` (issue paths from ``root``), each issue composed and
    checked when ``settings`` is given; ``InputError`` ('FILE: step N: problem') for anything wrong."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("file not found", subject=str(path)) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", subject=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML ({exc})", subject=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read it: {exc.strerror or exc}", subject=str(path)) from None
    unknown = sorted(set(data) - {"step"})
    if unknown:
        raise InputError(f"unknown key {unknown[0]!r}: a sequence file holds [[step]] tables only", subject=str(path))
    raw_steps = data.get("step")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise InputError("no steps: add [[step]] tables, each with issue = \"...\" and after_joining or "
                         "after_previous", subject=str(path))
    if len(raw_steps) > MAX_STEPS:
        raise InputError(f"{len(raw_steps)} steps: a sequence has at most {MAX_STEPS}", subject=str(path))
    steps = [_step(path, root, number, raw) for number, raw in enumerate(raw_steps, start=1)]
    seen: dict[str, int] = {}
    for number, step in enumerate(steps, start=1):
        slug = _slug(step.issue)
        if slug in seen:
            raise InputError(f"step {number}: issue {slug!r} is step {seen[slug]} already (each step sends another "
                             "issue)", subject=str(path))
        seen[slug] = number
        _check_issue(path, step, settings, number)
    return steps


def _step(path: Path, root: Path, number: int, raw: Any) -> Step:
    def fail(problem: str) -> InputError:
        return InputError(f"step {number}: {problem}", subject=str(path))

    if not isinstance(raw, dict):
        raise fail("not a table: write [[step]] and its keys below it")
    unknown = sorted(set(raw) - set(STEP_KEYS))
    if unknown:
        raise fail(f"unknown key {unknown[0]!r} (a step has {', '.join(STEP_KEYS)})")
    issue = raw.get("issue")
    if not isinstance(issue, str) or not issue.strip():
        raise fail("no issue: write issue = \"issues/NAME.md\"")
    issue_path = Path(issue.strip())
    issue_path = (issue_path if issue_path.is_absolute() else root / issue_path).resolve()
    if not issue_path.is_file():
        raise fail(f"issue file {issue!r} not found (looked at {issue_path})")
    given = [key for key in ("after_joining", "after_previous") if key in raw]
    if len(given) != 1:
        raise fail("give exactly one of after_joining and after_previous" if given
                   else "no delay: give after_joining = \"1h\" or after_previous = \"3d\"")
    if number == 1 and given[0] == "after_previous":
        raise fail("the first step has no previous step: use after_joining")
    try:
        seconds = int(parse_duration(str(raw[given[0]]), given[0]).total_seconds())
        where = raw.get("where", [])
        if isinstance(where, str):
            where = [where]
        if not isinstance(where, list) or not all(isinstance(w, str) for w in where):
            raise InputError("must be a list of \"KEY=VALUE\" or \"KEY!=VALUE\"", subject="where")
        conditions = tuple(parse_conditions(where))
    except InputError as exc:
        raise fail(f"{exc.subject}: {exc.message}" if exc.subject else exc.message) from None
    if given[0] == "after_joining":
        return Step(str(issue_path), after_joining=seconds, where=conditions)
    return Step(str(issue_path), after_previous=seconds, where=conditions)


def _slug(issue: str) -> str:
    from newsletter.compose.source import read_slug

    return read_slug(issue)


def _check_issue(path: Path, step: Step, settings: Settings | None, number: int = 1) -> None:
    """``InputError`` unless the step's issue composes with no check error (when ``settings`` are given)."""
    if settings is None:
        return
    from newsletter.compose import compose_checked

    try:
        compose_checked(step.issue, settings)
    except NewsletterError as exc:
        where = f"step {number}: " if path.suffix.lower() == ".toml" else ""
        raise InputError(f"{where}issue does not compose: {exc.message}", subject=str(path)) from None
