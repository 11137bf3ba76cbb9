"""Which issues the archive holds: the sends that reached someone, each composed again and
published only if the composition is byte for byte the HTML that was sent."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter.compose.model import WARNING, ComposeResult, Finding
from newsletter.errors import NewsletterError

if TYPE_CHECKING:
    from newsletter.settings import Settings
    from newsletter.store import DB

#: A list name or slug that can be a folder of the archive (and a URL path segment) as it is.
SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
#: Names the archive's own files take at its top level.
RESERVED = frozenset({"index.html", "feed.xml", "sitemap.xml"})


@dataclass
class ListInfo:
    """A list with a page in the archive."""

    name: str
    title: str
    signup: bool


@dataclass
class Entry:
    """One issue of the archive: the composition that matched its sends, and when they went out."""

    slug: str
    result: ComposeResult
    visibility: str  # "public" or "unlisted"
    lists: list[str]  # names of the lists whose send matched, by name
    published: str  # UTC text: when the first matching send started
    updated: str  # UTC text: when the last matching send finished (or started)
    build_id: str = ""

    @property
    def subject(self) -> str:
        """The issue's subject, as sent."""
        return self.result.issue.subject

    @property
    def preheader(self) -> str:
        """The issue's preheader, as sent."""
        return self.result.issue.preheader


@dataclass
class Collection:
    """What ``collect`` found: the entries (oldest first), the lists with an index, and findings."""

    entries: list[Entry] = field(default_factory=list)
    lists: list[ListInfo] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def _finding(message: str, where: str) -> Finding:
    return Finding("archive", WARNING, message, where)


def issue_files(folder: Path) -> dict[str, Path]:
    """The ``*.md`` files of ``folder`` by slug (the first by file name wins); unreadable files are left out."""
    from newsletter.compose.source import read_slug

    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.md")):
        try:
            found.setdefault(read_slug(path), path)
        except NewsletterError:
            continue  # `check` reports a broken issue; the archive only needs the ones that were sent
    return found


def _build_id(result: ComposeResult) -> str:
    from newsletter.compose.build import identify

    return identify(result).id


def _stamp(row: dict[str, Any], *names: str) -> str:
    return next((str(row[name]) for name in names if row.get(name)), "")


#: How the archive composes an issue file: ``compose_issue``, or a memo of it (``serve``).
Composer = Callable[[Path, "Settings"], ComposeResult]


def collect(conn: DB, settings: Settings, compose: Composer | None = None) -> Collection:
    """Every sent issue the archive may publish, and a finding for each one it may not.

    A send counts when it reached at least one recipient. Its issue file is the
    one its release recorded, else the one with its slug in ``NEWSLETTER_ISSUES``;
    the file is composed again with ``settings`` and kept only where the HTML's
    SHA-256 equals the send's: the archive never shows other bytes than were sent.
    ``compose`` replaces ``compose_issue`` (``serve`` keeps the results of files that did not change).
    """
    from newsletter.compose import compose_issue
    from newsletter.store.archive import delivered_sends, signup_lists

    found = Collection()
    by_slug: dict[str, list[dict[str, Any]]] = {}
    for row in delivered_sends(conn):
        by_slug.setdefault(str(row["slug"]), []).append(row)
    folder: dict[str, Path] | None = None
    entries: list[Entry] = []
    for slug, rows in by_slug.items():
        paths = [Path(p) for p in dict.fromkeys(str(r["issue_path"]) for r in rows) if p and Path(p).is_file()]
        if not paths:
            folder = issue_files(Path(settings.newsletter_issues)) if folder is None else folder
            paths = [folder[slug]] if slug in folder else []
        if not paths:
            found.findings.append(_finding(f"issue {slug} was sent but its file is not found "
                                           f"(looked in {settings.newsletter_issues}/); not archived", slug))
            continue
        entry = _entry(slug, rows, paths, settings, compose or compose_issue, found.findings)
        if entry is not None:
            entries.append(entry)
    lists = {str(r["list"]): ListInfo(str(r["list"]), str(r["list_title"] or ""), bool(r["list_signup"]))
             for rows in by_slug.values() for r in rows}
    lists.update({str(r["name"]): ListInfo(str(r["name"]), str(r["title"] or ""), True) for r in signup_lists(conn)})
    found.lists = _placeable_lists(lists.values(), entries, found.findings)
    names = {info.name for info in found.lists}
    for entry in entries:
        if entry.slug in names or entry.slug in RESERVED or not SAFE_NAME.fullmatch(entry.slug):
            found.findings.append(_finding(f"issue {entry.slug}: its archive address is taken by a list or a file "
                                           "of the archive; not archived (give it another `slug:`)", entry.slug))
            continue
        entry.lists = [name for name in entry.lists if name in names]
        found.entries.append(entry)
    found.entries.sort(key=lambda e: (e.published, e.slug))
    return found


def _entry(slug: str, rows: list[dict[str, Any]], paths: list[Path], settings: Settings,
           compose: Composer, findings: list[Finding]) -> Entry | None:
    sent = {str(r["html_sha256"]) for r in rows}
    result: ComposeResult | None = None
    for path in paths:  # a send recorded its file; sends to other lists may have recorded another
        try:
            candidate = compose(path, settings)
        except NewsletterError as exc:
            findings.append(_finding(f"issue {slug} cannot be composed ({exc}); not archived", slug))
            return None
        if candidate.html_sha256 in sent:
            result = candidate
            break
        result = result or candidate
    assert result is not None  # paths is never empty
    if result.issue.archive == "none":
        return None
    matching = [r for r in rows if r["html_sha256"] == result.html_sha256]
    if not matching:
        findings.append(_finding(f"issue {slug} changed since it was sent; not archived", slug))
        return None
    for row in rows:
        if row not in matching:
            findings.append(_finding(f"issue {slug} changed since it was sent to list {row['list']}; "
                                     "archived as it was sent to the others", slug))
    starts = sorted(_stamp(r, "started_at", "created_at") for r in matching)
    ends = sorted(_stamp(r, "finished_at", "started_at", "created_at") for r in matching)
    return Entry(slug=slug, result=result, visibility=result.issue.archive,
                 lists=sorted({str(r["list"]) for r in matching}), published=starts[0], updated=max(ends[-1], starts[0]),
                 build_id=_build_id(result))


def _placeable_lists(lists: Iterable[ListInfo], entries: list[Entry], findings: list[Finding]) -> list[ListInfo]:
    """Lists that get an index: those with a public issue or a signup form, whose name can be a folder."""
    shown = {name for e in entries if e.visibility == "public" for name in e.lists}
    placeable = []
    for info in sorted(lists, key=lambda i: i.name):
        if info.name not in shown and not info.signup:
            continue
        if not SAFE_NAME.fullmatch(info.name) or info.name in RESERVED:
            findings.append(_finding(f"list {info.name!r}: its name cannot be an address of the archive "
                                     "(letters, digits, '.', '_' and '-' only); it has no index page", info.name))
            continue
        placeable.append(info)
    return placeable
