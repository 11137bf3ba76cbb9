"""Helpers for sequence tests (``from tests.release.sequence_helpers import ...``): a repository with a
welcome issue and a two-step sequence, a clock a minute ahead of the store's, and what the outbox holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.release.helpers import Clock

ONBOARDING = """
[[step]]
issue = "issues/onboarding-1.md"
after_joining = "1h"

[[step]]
issue = "issues/onboarding-2.md"
after_previous = "3d"
where = ["plan=pro"]
"""


def write_issue(root: Path, slug: str, title: str) -> Path:
    """``issues/<slug>.md`` under ``root`` with ``title`` as its subject."""
    path = root / "issues" / f"{slug}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\ntitle: \"{title}\"\nseo:\n  url: https://news.example.org/{slug}\n---\n"
                    f"Hello %%name%%, this is {title}.\n", encoding="utf-8")
    return path


def repository(root: Path) -> Path:
    """A repository with issues/welcome.md, two onboarding issues and sequences/onboarding.toml; the file."""
    write_issue(root, "welcome", "Welcome aboard")
    write_issue(root, "onboarding-1", "Getting started")
    write_issue(root, "onboarding-2", "Going further")
    file = root / "sequences" / "onboarding.toml"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(ONBOARDING, encoding="utf-8")
    return file


def store_clock() -> Clock:
    """A clock a minute ahead of the real one: the store stamps joins and ledger rows with real time, so
    everything written during the test is in the worker's past."""
    return Clock(datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1))


def outbox(settings) -> dict[str, list[str]]:
    """Subjects the outbox holds, by recipient address (from each .eml file)."""
    from email import message_from_bytes, policy

    found: dict[str, list[str]] = {}
    for path in sorted(Path(settings.newsletter_outbox).glob("*/*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        found.setdefault(str(message["To"]).split("<")[-1].rstrip(">"), []).append(str(message["Subject"]))
    return found
