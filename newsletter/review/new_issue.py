"""``newsletter new``: a new issue file with the team's frontmatter and a skeleton body."""

from __future__ import annotations

import datetime as _dt
import json
import re
import unicodedata
from pathlib import Path

from newsletter.errors import InputError

#: Letters that Unicode decomposition does not reduce to ASCII.
_TRANSLITERATE = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE", "đ": "d", "Đ": "D",
     "ł": "l", "Ł": "L", "þ": "th", "Þ": "TH", "ð": "d", "Ð": "D", "&": " and "}
)
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
MAX_SLUG_LENGTH = 60

#: The default site address used in the skeleton when no site URL is configured.
PLACEHOLDER_SITE = "https://example.org"


def slugify(title: str, *, max_length: int = MAX_SLUG_LENGTH) -> str:
    """``title`` as a lower-case ASCII slug ("Café & Crème!" -> "cafe-and-creme").

    Accents are dropped via Unicode decomposition; anything that is not a
    letter or digit becomes a single hyphen. Long slugs are cut at a hyphen.
    Returns "" when the title has no letter or digit at all.
    """
    text = unicodedata.normalize("NFKD", title.translate(_TRANSLITERATE))
    text = text.encode("ascii", "ignore").decode("ascii").lower()
    slug = _NOT_SLUG.sub("-", text).strip("-")
    if len(slug) > max_length:
        cut = slug[:max_length]
        slug = cut.rsplit("-", 1)[0] if "-" in cut else cut
    return slug


def parse_date(value: str | _dt.date | None) -> _dt.date:
    """An issue date from ``YYYY-MM-DD`` text, a ``date``, or ``None`` (today)."""
    if value is None:
        return _dt.date.today()
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    text = str(value).strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise InputError(f"expected a date as YYYY-MM-DD, got {text!r}", subject="--date")
    try:
        return _dt.date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"not a valid date: {text!r} ({exc})", subject="--date") from None


def _yaml_string(text: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar, quotes and colons included.
    return json.dumps(text, ensure_ascii=False)


def render_issue(title: str, date: _dt.date, slug: str, *, site_url: str = "", starter: bool = False) -> str:
    """The text of a new issue: frontmatter plus a skeleton body that composes cleanly.

    Without ``site_url`` its links point at a placeholder site, which ``check``
    flags until the writer replaces them. ``starter`` (the first issue ``init``
    writes) keeps those placeholders in comments instead, so a new repository's
    CI (``check --strict``) passes before anyone has written a word.
    """
    site = (site_url or PLACEHOLDER_SITE).rstrip("/")
    page = f"{site}/blog/{slug}/"
    quoted = _yaml_string(title)
    commented = starter and not site_url
    url_line = (
        f"  # url: {page}    # the web version (View in browser); set NEWSLETTER_SITE_URL or write yours"
        if commented else f"  url: {page}"
    )
    hero = f"![Describe the hero image for readers who cannot see it]({site}/images/{slug}-hero.jpg)"
    links = f"""- [A first link worth reading]({site}/blog/)
- [A second link worth reading]({site}/events/)

**[READ MORE >>]({page})**"""
    second = "Tell the second story here, then point readers to more:"
    if commented:
        second = "Tell the second story here. Keep each section to one story, with a link to the whole of it."
        hero = f"<!-- A hero image: an image on its own at the very top. Point it at your site:\n{hero}\n-->"
        links = f"<!-- Links and a button, once they can point at real pages (check flags placeholders):\n{links}\n-->"
    return f"""---
templateKey: blog-post
title: {quoted}
author: ""
date: {date.isoformat()}T09:00:00.000Z
category:
  - value: newsletter
    label: Newsletter
hidePost: false
seo:
{url_line}
  title: {quoted}
  description: "One sentence that sums up this issue; inboxes show it after the subject."
  twitterUsername: ""
# subject: {quoted}    # defaults to the title
# preheader: "..."     # defaults to seo.description
---

{hero}

# First section

Hi %%first_name%%, open with the news that matters most this time. Keep paragraphs short:
most subscribers read on a phone.

# Second section

{second}

{links}
"""


def new_issue(
    title: str,
    date: str | _dt.date | None,
    issues_dir: str | Path,
    *,
    site_url: str = "",
) -> Path:
    """Write ``<issues_dir>/<date>-<slug>.md`` for a new issue and return its path.

    ``date`` is ``YYYY-MM-DD`` text, a ``date`` or ``None`` for today. Links in
    the skeleton point at ``site_url`` (``NEWSLETTER_SITE_URL``) or a
    placeholder site. An existing file is never overwritten (``InputError``).
    """
    title = " ".join(title.split())
    if not title:
        raise InputError("the title is empty", subject="TITLE")
    slug = slugify(title)
    if not slug:
        raise InputError(f"the title {title!r} has no letter or digit to make a file name from", subject="TITLE")
    day = parse_date(date)
    directory = Path(issues_dir)
    path = directory / f"{day.isoformat()}-{slug}.md"
    text = render_issue(title, day, slug, site_url=site_url)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as handle:  # "x": fail rather than overwrite
            handle.write(text)
    except FileExistsError:
        raise InputError("already exists; not overwriting it (pick another title or date)", subject=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot write the new issue: {exc.strerror or exc}", subject=str(path)) from None
    return path
