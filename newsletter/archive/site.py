"""The whole archive as files: what ``archive build`` writes and ``serve`` answers at /archive/."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from newsletter.archive import render
from newsletter.archive.collect import Collection, Composer, Entry, collect
from newsletter.archive.page import content_security_policy, neutralise
from newsletter.compose.model import Finding
from newsletter.errors import InputError

if TYPE_CHECKING:
    from newsletter.settings import Settings
    from newsletter.store import DB

#: The files ``write_site`` wrote last time, so the next build removes the ones it no longer has. It holds
#: hashes, not names: a static host may serve it, and an unlisted page's address must not be listed anywhere.
MANIFEST = ".newsletter-archive"

#: The Content-Type of each kind of file of the archive.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
}
FEED_TYPE = "application/atom+xml; charset=utf-8"


@dataclass
class Site:
    """Every file of the archive by its path under the archive ('index.html', '<slug>/index.html', ...)."""

    files: dict[str, bytes] = field(default_factory=dict)
    modified: dict[str, str] = field(default_factory=dict)  # path -> UTC text of its newest content
    unlisted: set[str] = field(default_factory=set)  # paths of pages kept out of indexes (noindex)
    findings: list[Finding] = field(default_factory=list)
    issues: int = 0  # pages of issues (public and unlisted)
    lists: int = 0  # list indexes

    def content_type(self, path: str) -> str:
        """The Content-Type to serve ``path`` with."""
        if path.endswith("feed.xml"):
            return FEED_TYPE
        return CONTENT_TYPES[Path(path).suffix]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def build_site(conn: DB, settings: Settings, compose: Composer | None = None) -> Site:
    """The archive for the sends in ``conn`` and the issue files ``settings`` point at.

    Deterministic: the same database, issue files, layouts and settings give
    the same bytes. Issues whose file changed since they were sent are left
    out, with a finding. ``compose`` replaces ``compose_issue`` (see ``collect``).
    """
    found = collect(conn, settings, compose)
    return assemble(found, settings)


def assemble(found: Collection, settings: Settings) -> Site:
    """The files of an archive from what ``collect`` found."""
    base = settings.archive_url
    csp = content_security_policy(_origin(settings.newsletter_public_url))
    site = Site(findings=list(found.findings))
    contents: dict[str, str] = {}
    for entry in found.entries:
        page, contents[entry.slug] = neutralise(entry, f"{base}{entry.slug}/", feed_href="../feed.xml", csp=csp)
        path = f"{entry.slug}/index.html"
        _add(site, path, page, entry.updated)
        if entry.visibility != "public":
            site.unlisted.add(path)
    site.issues = len(found.entries)
    public = [entry for entry in found.entries if entry.visibility == "public"]
    brand = settings.newsletter_brand
    top = render.Place("", f"{brand}: all issues")
    _index(site, top, public, found, settings, contents, form="")
    sitemap = [(base, _newest(public))]
    for info in found.lists:
        place = render.Place(info.name, f"{info.title or info.name}: all issues")
        mine = [entry for entry in public if info.name in entry.lists]
        _index(site, place, mine, found, settings, contents, form=render.signup(info, settings))
        sitemap.append((f"{base}{info.name}/", _newest(mine)))
    site.lists = len(found.lists)
    sitemap += [(f"{base}{entry.slug}/", entry.updated) for entry in render.newest_first(public)]
    _add(site, "sitemap.xml", render.sitemap(sitemap), _newest(public))
    return site


class ComposeMemo:
    """``compose_issue`` that keeps each file's result while the file, and every layout file, is unchanged.

    For ``serve``: after a send, the archive is built again, but only the new issue is composed.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._layouts = ""
        self._results: dict[tuple[str, int, int], Any] = {}

    def begin(self) -> None:
        """Call before a build: forget every result if a layout file changed since the last one."""
        layouts = _stat_digest(_layout_files(self.settings))
        if layouts != self._layouts:
            self._results.clear()
            self._layouts = layouts

    def __call__(self, path: Path, settings: Settings) -> Any:
        from newsletter.compose import compose_issue

        if settings is not self.settings:
            return compose_issue(path, settings)
        stat = path.stat()
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        if key not in self._results:
            self._results = {k: v for k, v in self._results.items() if k[0] != key[0]}  # the file's older results
            self._results[key] = compose_issue(path, settings)
        return self._results[key]


def _layout_files(settings: Settings) -> set[Path]:
    layouts = Path(settings.newsletter_layouts)
    # The built-in layouts change only with the package, and with it the process.
    return {p for p in layouts.rglob("*") if p.is_file()} if layouts.is_dir() else set()


def _stat_digest(paths: set[Path]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(paths):
        try:
            stat = path.stat()
        except OSError:
            digest.update(f"{path}\0gone\n".encode())
            continue
        digest.update(f"{path}\0{stat.st_mtime_ns}\0{stat.st_size}\n".encode())
    return digest.hexdigest()


def freshness(conn: DB, settings: Settings) -> str:
    """A digest that changes whenever ``build_site`` could give other bytes: the sends and lists in the
    database, and the size and time of every issue file and layout file it may compose.

    ``serve`` builds the archive again only when this changes.
    """
    from newsletter.store.archive import delivered_sends, fingerprint

    paths = {Path(str(row["issue_path"])) for row in delivered_sends(conn) if row["issue_path"]}
    issues = Path(settings.newsletter_issues)
    paths.update(issues.glob("*.md") if issues.is_dir() else ())
    return fingerprint(conn) + _stat_digest(paths | _layout_files(settings))


def _index(site: Site, place: render.Place, entries: list[Entry], found: Collection, settings: Settings,
           contents: dict[str, str], *, form: str) -> None:
    prefix = f"{place.folder}/" if place.folder else ""
    csp = content_security_policy(_origin(settings.newsletter_public_url))
    newest = _newest(entries)
    page = render.index_page(place, entries, found.lists, csp=csp, form=form)
    _add(site, prefix + "index.html", page, newest)
    feed = render.feed(place, entries, contents, archive_url=settings.archive_url, brand=settings.newsletter_brand)
    _add(site, prefix + "feed.xml", feed, newest)


def _newest(entries: list[Entry]) -> str:
    return max((entry.updated for entry in entries), default="")


def _add(site: Site, path: str, text: str, modified: str) -> None:
    site.files[path] = text.encode("utf-8")
    if modified:
        site.modified[path] = modified


def build_archive(settings: Settings, out_dir: str | Path | None = None) -> tuple[Site, Path]:
    """Build the archive from ``NEWSLETTER_DATABASE`` and write it to ``out_dir`` (default
    ``<NEWSLETTER_BUILD_DIR>/archive``): what ``newsletter archive build`` does. Returns the site and the folder."""
    from newsletter.store import session

    with session(settings.newsletter_database, timeout=settings.newsletter_database_timeout) as conn:
        site = build_site(conn, settings)
    out = Path(out_dir) if out_dir is not None else settings.path("newsletter_build_dir") / "archive"
    write_site(site, out)
    return site, out


def write_site(site: Site, out_dir: str | Path) -> list[Path]:
    """Write every file of ``site`` under ``out_dir``, each atomically; remove the files the last build wrote
    that this one no longer has (and only those: ``out_dir`` may hold other files). Returns the paths written."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output folder: {exc.strerror}", subject=str(out)) from None
    manifest = out / MANIFEST
    before = set(manifest.read_text(encoding="utf-8").split()) if manifest.is_file() else set()
    written = []
    for name, data in sorted(site.files.items()):
        target = out / name
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(target, data)
        except OSError as exc:
            raise InputError(f"cannot write: {exc.strerror}", subject=str(target)) from None
        written.append(target)
    # Only files of the archive's shape are candidates: <name>, <folder>/<name>.
    candidates = [*out.glob("*.*ml"), *out.glob("*/index.html"), *out.glob("*/feed.xml")]
    for path in sorted(candidates):
        name = path.relative_to(out).as_posix()
        if name not in site.files and _manifest_line(name) in before:
            path.unlink(missing_ok=True)
            try:
                path.parent.rmdir()  # an issue's folder, once empty
            except OSError:
                pass
    _atomic_write(manifest, "".join(f"{_manifest_line(name)}\n" for name in sorted(site.files)).encode("utf-8"))
    return written


def _manifest_line(name: str) -> str:
    import hashlib

    return hashlib.sha256(f"newsletter-archive:{name}".encode()).hexdigest()


_UMASK = os.umask(0)
os.umask(_UMASK)


def _atomic_write(path: Path, data: bytes) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temp, 0o666 & ~_UMASK)  # mkstemp makes 0600; the archive is for a web server to read
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
