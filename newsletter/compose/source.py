"""Stage 1: read an issue file into an ``Issue`` (frontmatter + Markdown body)."""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from newsletter.compose.bidi import LTR, RTL, language_direction
from newsletter.compose.model import Issue
from newsletter.errors import InputError
from newsletter.settings import ARCHIVE_VISIBILITY, Settings

_FENCE = re.compile(r"^-{3,}[ \t]*$")
_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def read_text(path: Path) -> str:
    """Return the file's text, refusing missing, empty, binary and non-UTF-8 files."""
    if not path.exists():
        raise InputError("file not found", subject=str(path))
    if not path.is_file():
        raise InputError("not a file", subject=str(path))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", subject=str(path)) from None
    if not data.strip():
        raise InputError("file is empty", subject=str(path))
    if b"\x00" in data:
        raise InputError("not a text file (it contains NUL bytes; binary?)", subject=str(path))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 (byte {exc.start}); save the file as UTF-8", subject=str(path)) from None


def split_frontmatter(text: str, path: Path) -> tuple[dict[str, Any], str, int]:
    """Split ``---`` YAML frontmatter from the body.

    Returns ``(meta, body, body_line)`` where ``body_line`` is the 1-based
    line of the file on which the body starts. Malformed YAML is an
    ``InputError`` naming the line.
    """
    lines = text.splitlines(keepends=True)
    if not lines or not _FENCE.match(lines[0].rstrip("\r\n")):
        return {}, text, 1
    for index in range(1, len(lines)):
        if _FENCE.match(lines[index].rstrip("\r\n")):
            break
    else:
        raise InputError("frontmatter starts with '---' on line 1 but is never closed", subject=str(path))
    import yaml

    try:
        meta = yaml.safe_load("".join(lines[1:index])) or {}
    except yaml.YAMLError as exc:
        line, problem = yaml_problem(exc)
        where = f"{path}:{line + 2}" if line is not None else str(path)  # +1 for 1-based, +1 for the '---'
        raise InputError(f"malformed YAML frontmatter: {problem}", subject=where) from None
    if not isinstance(meta, dict):
        raise InputError("frontmatter must be a mapping of keys to values", subject=f"{path}:2")
    return _plain(meta), "".join(lines[index + 1 :]), index + 2


def _plain(value: Any) -> Any:
    """YAML dates become ISO strings so metadata is JSON-ready and deterministic."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, _dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, _dt.date):
        return value.isoformat()
    return value


def slug_for(path: Path, meta: dict[str, Any]) -> str:
    """The issue's slug: frontmatter ``slug``, else the file name without ``.md``."""
    raw = str(meta.get("slug") or path.stem)
    return _SLUG_UNSAFE.sub("-", raw).strip("-.") or "issue"


def read_slug(path: str | Path) -> str:
    """The slug of the issue file at ``path`` (for commands that only need its name)."""
    path = Path(path)
    meta, _, _ = split_frontmatter(read_text(path), path)
    return slug_for(path, meta)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _categories(meta: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for key in ("category", "categories", "tags"):
        value = meta.get(key)
        items = value if isinstance(value, list) else [value] if value else []
        for item in items:
            if isinstance(item, dict):
                item = item.get("label") or item.get("value")
            if isinstance(item, (str, int)) and str(item).strip() and str(item).strip() not in found:
                found.append(str(item).strip())
    return found


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


def load_issue(path: str | Path, settings: Settings) -> Issue:
    """Read and interpret the issue at ``path``.

    The subject is resolved later (it may come from the first H1), so
    ``Issue.subject`` holds only the frontmatter's ``subject`` or ``title``.
    """
    path = Path(path)
    meta, body, body_line = split_frontmatter(read_text(path), path)
    seo = meta.get("seo")
    if not isinstance(seo, dict):
        seo = {}
    web_url = _text(seo.get("url")) or _text(meta.get("web_url"))
    base_url = _text(meta.get("base_url")) or settings.newsletter_site_url.strip() or _origin(web_url)
    utm = meta.get("utm")
    lang = _text(meta.get("lang")) or "en"
    slug = slug_for(path, meta)
    archive = _archive(meta, settings, path)
    if not web_url and archive != "none":  # "View in browser" opens the issue's page in the web archive
        web_url = f"{settings.archive_url}{slug}/"
    return Issue(
        path=path,
        slug=slug,
        meta=meta,
        body=body,
        body_line=body_line,
        subject=_text(meta.get("subject")) or _text(meta.get("title")),
        preheader=_text(meta.get("preheader")) or _text(seo.get("description")) or _text(meta.get("description")),
        web_url=web_url,
        base_url=base_url,
        categories=_categories(meta),
        layout=_text(meta.get("layout")) or "default",
        utm=settings.newsletter_utm if utm is None else bool(utm),
        lang=lang,
        dir=_direction(meta, lang, path),
        archive=archive,
    )


def _archive(meta: dict[str, Any], settings: Settings, path: Path) -> str:
    """Frontmatter ``archive`` (public, unlisted or none), else ``NEWSLETTER_ARCHIVE_DEFAULT``."""
    given = meta.get("archive")
    if given is None:  # absent, or `archive:` left empty
        given = settings.newsletter_archive_default
    if given is False:  # YAML 1.1 reads a bare `no` or `off` as false
        given = "none"
    if not isinstance(given, str) or given.strip().lower() not in ARCHIVE_VISIBILITY:
        raise InputError(f"frontmatter archive must be one of {', '.join(ARCHIVE_VISIBILITY)}, got {given!r}",
                         subject=str(path))
    return given.strip().lower()


def _direction(meta: dict[str, Any], lang: str, path: Path) -> str:
    """Frontmatter ``dir`` (``ltr``/``rtl``), else the direction of ``lang``."""
    given = meta.get("dir")
    if given is None:
        return language_direction(lang)
    if not isinstance(given, str) or given.strip().lower() not in (LTR, RTL):
        raise InputError(f"frontmatter dir must be 'ltr' or 'rtl', got {given!r}", subject=str(path))
    return given.strip().lower()


#: The parser's wording -> plain words (the most common mistakes in frontmatter).
_YAML_WORDS = (
    ("could not find expected ':'", "this line is not `key: value` (a missing ':', or no space after it)"),
    ("found unexpected end of stream", "a quote that is never closed"),
    ("expected <block end>, but found '<scalar>'",
     "text after a value: put the whole value in quotes, or line this up with the keys above it"),
    ("expected <block end>", "this line is indented differently from the lines above it"),
    ("mapping values are not allowed here", "a ': ' inside a value: put the whole value in quotes"),
    ("found character '\\t'", "a tab: indent with spaces"),
)


def yaml_problem(exc: Exception) -> tuple[int | None, str]:
    """``(0-based line of the mistake, plain description)`` of a PyYAML error.

    The parser reports where it noticed the mistake, which for a key without
    its ':' or a quote never closed is the start of the next line (or the
    end): then the line it was scanning (its context) is the one to fix.
    """
    mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None) or ""
    line = mark.line if mark is not None else None
    if context_mark is not None and context.startswith("while scanning") and (
            mark is None or mark.column == 0 or "end of stream" in problem):
        line = context_mark.line
    for wording, plain in _YAML_WORDS:
        if wording in problem:
            return line, plain
    return line, problem
