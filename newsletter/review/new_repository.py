"""``newsletter init``: a newsletter repository a team can commit and start writing in.

The files come from the package itself (``newsletter/repo_template/`` and the
built-in layouts), so ``init`` works the same from an installed wheel as from
a checkout. Nothing is ever overwritten: if any file ``init`` would write is
already there, it writes none of them.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from newsletter import __version__
from newsletter.errors import InputError
from newsletter.review.new_issue import render_issue, slugify

FIRST_ISSUE_TITLE = "Our first issue"
WORKFLOW = Path(".github/workflows/check-issues.yml")


@dataclass(frozen=True)
class NewRepository:
    """What ``init_repository`` wrote: the folder and the files, relative to it."""

    root: Path
    files: tuple[Path, ...]
    first_issue: Path


def _requirements() -> str:
    return (
        "# What CI installs (see .github/workflows/check-issues.yml). Pin the version your\n"
        "# team writes against; change the line to a git URL or a wheel if you install it so.\n"
        f"newsletter[screenshots]=={__version__}\n"
    )


def repository_files(today: _dt.date | None = None, *, site_url: str = "") -> dict[Path, str]:
    """Every file of a new repository, as relative path -> text."""
    template = files("newsletter").joinpath("repo_template")
    layouts = files("newsletter").joinpath("layouts")
    day = today or _dt.date.today()
    slug = slugify(FIRST_ISSUE_TITLE)
    first_issue = Path("issues") / f"{day.isoformat()}-{slug}.md"
    return {
        first_issue: render_issue(FIRST_ISSUE_TITLE, day, slug, site_url=site_url),
        Path("layouts/README.md"): layouts.joinpath("README.md").read_text(encoding="utf-8"),
        **{
            Path("layouts/default") / name: layouts.joinpath("default", name).read_text(encoding="utf-8")
            for name in ("email.mjml.j2", "email.txt.j2", "client-support.txt", "confirm.mjml.j2", "confirm.txt.j2")
        },
        Path(".env.example"): template.joinpath("env.example").read_text(encoding="utf-8"),
        Path(".gitignore"): template.joinpath("gitignore").read_text(encoding="utf-8"),
        WORKFLOW: template.joinpath("check-issues.yml").read_text(encoding="utf-8"),
        Path("requirements.txt"): _requirements(),
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
    these files already exists.
    """
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise InputError("exists and is not a folder", subject=str(root))
    contents = repository_files(today, site_url=site_url)
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
    return NewRepository(root=root, files=tuple(written), first_issue=first_issue)
