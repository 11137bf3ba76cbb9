"""``newsletter init``: a newsletter repository a team can commit and start writing in.

The files come from the package itself (``newsletter/repo_template/`` and the
built-in layouts), so ``init`` works the same from an installed wheel as from
a checkout. Nothing is ever overwritten: if any file ``init`` would write is
already there, it writes none of them.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from urllib.parse import urlsplit

from newsletter import __version__
from newsletter.errors import InputError
from newsletter.review.new_issue import render_issue, slugify

FIRST_ISSUE_TITLE = "Our first issue"
WORKFLOW = Path(".github/workflows/check-issues.yml")
#: The distribution's name on the package index (the import package and the command are `newsletter`).
DISTRIBUTION = "markdown-newsletter"
REQUIREMENTS = Path("requirements.txt")
#: Whether this version is on the package index. Until it is, a version pin is no way for CI to
#: install it (pip cannot tell an index install from a wheel found with --find-links either).
PUBLISHED = False


@dataclass(frozen=True)
class NewRepository:
    """What ``init_repository`` wrote: the folder and the files, relative to it."""

    root: Path
    files: tuple[Path, ...]
    first_issue: Path
    warnings: tuple[str, ...] = ()  # what the team must still do before CI can work


@dataclass(frozen=True)
class Requirement:
    """The line of ``requirements.txt`` that installs this very version, and whether CI can follow it."""

    line: str
    reachable: bool  # False: installed here from a local file or folder, which CI cannot reach
    source: str  # where this copy was installed from, for the warning


#: How a copy looks that pip never installed (a bare source tree on the path): unreachable for CI.
_NOT_INSTALLED: dict = {"url": ""}


def _installed_from() -> dict | None:
    """This distribution's PEP 610 ``direct_url.json`` (how pip installed it), or None (installed by name)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        text = distribution(DISTRIBUTION).read_text("direct_url.json")
    except PackageNotFoundError:
        return _NOT_INSTALLED
    if not text:
        return None
    try:
        found = json.loads(text)
    except ValueError:
        return _NOT_INSTALLED
    return found if isinstance(found, dict) else _NOT_INSTALLED


def requirement(extras: str = "screenshots") -> Requirement:
    """How CI installs the version of the tool that is running, as pip installed it here."""
    return requirement_for(_installed_from(), extras=extras)


def requirement_for(direct_url: dict | None, *, extras: str = "screenshots") -> Requirement:
    """The requirement for this version, given how pip installed it (PEP 610 ``direct_url.json``).

    By name, from the package index or a wheel folder (no ``direct_url.json``):
    ``markdown-newsletter[screenshots]==X``, reachable once ``PUBLISHED``.
    From a git URL: that URL at the exact commit. From a wheel or archive on a web server: its
    URL. From a local file or folder (a wheel built here, a checkout): CI cannot reach it, so
    the line pins the version and ``reachable`` is False.
    """
    name = f"{DISTRIBUTION}[{extras}]" if extras else DISTRIBUTION
    pinned = f"{name}=={__version__}"
    if direct_url is None:
        if PUBLISHED:
            return Requirement(pinned, True, "the package index")
        return Requirement(pinned, False, f"a wheel found by name ({__version__} is not on the package index yet)")
    url = str(direct_url.get("url") or "")
    vcs = direct_url.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs") == "git" and url and urlsplit(url).scheme != "file":
        commit = str(vcs.get("commit_id") or vcs.get("requested_revision") or "")
        subdirectory = f"#subdirectory={direct_url['subdirectory']}" if direct_url.get("subdirectory") else ""
        return Requirement(f"{name} @ git+{url}{'@' + commit if commit else ''}{subdirectory}", True, url)
    if "archive_info" in direct_url and urlsplit(url).scheme in ("http", "https"):
        return Requirement(f"{name} @ {url}", True, url)
    return Requirement(pinned, False, url or "a source tree that was never installed")


def _requirements(found: Requirement) -> str:
    lines = ["# What CI installs (see .github/workflows/check-issues.yml): the version `newsletter init` ran."]
    if not found.reachable:
        lines += [
            f"# It was installed here from {found.source}, which CI cannot reach:",
            "# replace the line below with your team's git URL for it, e.g.",
            f"#   {DISTRIBUTION}[screenshots] @ git+https://git.example.org/you/newsletter@v{__version__}",
        ]
    return "\n".join(lines) + f"\n{found.line}\n"


def repository_files(
    today: _dt.date | None = None, *, site_url: str = "", install: Requirement | None = None
) -> dict[Path, str]:
    """Every file of a new repository, as relative path -> text (``install``: the requirement CI installs)."""
    template = files("newsletter").joinpath("repo_template")
    layouts = files("newsletter").joinpath("layouts")
    day = today or _dt.date.today()
    slug = slugify(FIRST_ISSUE_TITLE)
    first_issue = Path("issues") / f"{day.isoformat()}-{slug}.md"
    return {
        first_issue: render_issue(FIRST_ISSUE_TITLE, day, slug, site_url=site_url, starter=True),
        Path("layouts/README.md"): layouts.joinpath("README.md").read_text(encoding="utf-8"),
        **{
            Path("layouts/default") / name: layouts.joinpath("default", name).read_text(encoding="utf-8")
            for name in ("email.mjml.j2", "email.txt.j2", "client-support.txt", "confirm.mjml.j2", "confirm.txt.j2")
        },
        Path(".env.example"): template.joinpath("env.example").read_text(encoding="utf-8"),
        Path(".gitignore"): template.joinpath("gitignore").read_text(encoding="utf-8"),
        WORKFLOW: template.joinpath("check-issues.yml").read_text(encoding="utf-8"),
        REQUIREMENTS: _requirements(install or requirement()),
    }


def init_repository(
    directory: str | Path, *, today: _dt.date | None = None, site_url: str = ""
) -> NewRepository:
    """Write a new newsletter repository into ``directory`` (created if missing).

    It gets ``issues/`` with a first issue, ``layouts/default/`` (a copy of
    the built-in layout to customise, which then takes precedence), a
    ``.env.example``, a ``.gitignore`` (``.env``, the database, ``build/``…),
    ``requirements.txt`` and a CI workflow that checks and screenshots
    changed issues. Raises ``InputError`` – and writes nothing – if any of
    these files already exists. ``warnings`` says what the team must still do:
    when this copy of the tool was installed from a local wheel or checkout,
    CI cannot install it until ``requirements.txt`` names the team's git URL.
    """
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise InputError("exists and is not a folder", subject=str(root))
    install = requirement()
    contents = repository_files(today, site_url=site_url, install=install)
    existing = [path for path in contents if (root / path).exists()]
    if existing:
        names = ", ".join(str(path) for path in existing)
        raise InputError(f"already has {names}; not overwriting anything", subject=str(root))
    written: list[Path] = []
    try:
        for path, text in contents.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("x", encoding="utf-8") as handle:  # "x": never overwrite, even in a race
                handle.write(text)
            written.append(path)
    except OSError as exc:
        raise InputError(f"cannot write the new repository: {exc.strerror or exc}", subject=str(root)) from None
    first_issue = next(path for path in written if path.parts[0] == "issues")
    warnings = () if install.reachable else (
        f"{root / REQUIREMENTS}: {DISTRIBUTION} was installed here from {install.source}, which CI cannot"
        " reach; put your team's git URL for it in that file (see the comment there)",
    )
    return NewRepository(root=root, files=tuple(written), first_issue=first_issue, warnings=warnings)
