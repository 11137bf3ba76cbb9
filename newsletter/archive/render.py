"""The archive's index pages, Atom feeds (RFC 4287) and sitemap, as deterministic text."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from xml.sax.saxutils import escape, quoteattr

if TYPE_CHECKING:
    from newsletter.archive.collect import Entry, ListInfo
    from newsletter.settings import Settings

#: ``updated`` of a feed with no entry yet (RFC 4287 requires one; nothing has changed since).
EPOCH = "1970-01-01T00:00:00Z"
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")

_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:40rem;margin:2rem auto;"
    "padding:0 1rem;line-height:1.5;color:#1a1a1a;background:#fff}"
    "h1{font-size:1.6rem;line-height:1.25}h2{font-size:1.2rem;margin:2rem 0 .5rem}"
    "ol.nl-issues{list-style:none;padding:0;margin:0}ol.nl-issues li{margin:0 0 1.25rem}"
    ".nl-issues a{font-size:1.1rem;font-weight:600}a{color:#1a56db}"
    ".nl-date{display:block;color:#4b5563;font-size:.9rem}.nl-preheader{margin:.25rem 0 0;overflow-wrap:anywhere}"
    "nav.nl-lists a{margin-right:1rem}"
    "input[type=email],input[type=text]{box-sizing:border-box;width:100%;font-size:1rem;padding:.6rem;"
    "border:1px solid #6b7280;border-radius:.3rem}"
    "input[type=checkbox]{width:1.2rem;height:1.2rem;vertical-align:middle}"
    "button{font-size:1.05rem;padding:.7rem 1.3rem;border:0;border-radius:.3rem;background:#1a56db;color:#fff;cursor:pointer}"
    "input:focus,button:focus,a:focus{outline:3px solid #f59e0b;outline-offset:2px}"
    ".nl-hp{position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden}"
    "@media (prefers-color-scheme: dark){body{color:#e6edf3;background:#0d1117}a{color:#7cb7ff}"
    ".nl-date{color:#9da7b3}input[type=email],input[type=text]{background:#161b22;color:#e6edf3;border-color:#9da7b3}}"
)


@dataclass(frozen=True)
class Place:
    """Where one index and its feed live: the folder under the archive ('' = the top) and their titles."""

    folder: str
    title: str
    lang: str = "en"

    @property
    def up(self) -> str:
        """The relative way from this index back to the archive's top ('' or '../')."""
        return "../" if self.folder else ""


def e(value: str) -> str:
    """HTML-escaped, quotes included."""
    return html.escape(value, quote=True)


def day(stamp: str) -> str:
    """'2026-11-24T08:00:00Z' as '24 November 2026' (the same in every locale)."""
    try:
        year, month, date = stamp[:10].split("-")
        return f"{int(date)} {_MONTHS[int(month) - 1]} {year}"
    except (ValueError, IndexError):
        return stamp[:10]


def index_page(place: Place, entries: Sequence[Entry], lists: Sequence[ListInfo], *, csp: str, form: str) -> str:
    """An index: the issues newest first (subject, date, preheader), the lists, the feed, a signup form."""
    items = "".join(
        f'<li lang="{e(entry.result.issue.lang)}"><a href="{place.up}{e(entry.slug)}/" dir="auto">{e(entry.subject)}</a>'
        f'<time class="nl-date" datetime="{e(entry.published)}">{e(day(entry.published))}</time>'
        + (f'<p class="nl-preheader" dir="auto">{e(entry.preheader)}</p>' if entry.preheader else "")
        + "</li>\n"
        for entry in newest_first(entries)
    )
    issues = f'<ol class="nl-issues">\n{items}</ol>\n' if items else "<p>No issues yet.</p>\n"
    others = "".join(f'<a href="{place.up}{e(info.name)}/">{e(info.title or info.name)}</a>' for info in lists)
    nav = f'<nav class="nl-lists" aria-label="Lists"><a href="{place.up}">All issues</a>{others}</nav>\n' \
        if lists and (place.folder or len(lists) > 1) else ""
    signup = f"<h2>Subscribe</h2>\n{form}" if form else ""
    return (
        f'<!doctype html>\n<html lang="{e(place.lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{e(csp)}">'
        f"<title>{e(place.title)}</title>"
        f'<link rel="alternate" type="application/atom+xml" title="{e(place.title)}" href="feed.xml">'
        f"<style>{_STYLE}</style></head>\n<body><main>\n{nav}<h1>{e(place.title)}</h1>\n"
        f'<p><a href="feed.xml">Follow in a feed reader (Atom)</a></p>\n{issues}{signup}'
        f"</main></body></html>\n"
    )


def newest_first(entries: Sequence[Entry]) -> list[Entry]:
    """Entries by send time, newest first (slug breaks ties, so the order is always the same)."""
    return sorted(entries, key=lambda entry: (entry.published, entry.slug), reverse=True)


def tag_id(archive_url: str, entry: Entry) -> str:
    """An entry's Atom id (RFC 4151 tag URI): the archive's host, the day it was first sent, its slug.

    It stays the same when the issue's page moves within the host or the feed is rebuilt.
    """
    host = urlsplit(archive_url).hostname or "localhost"
    return f"tag:{host},{entry.published[:10]}:archive/{entry.slug}"


def feed(place: Place, entries: Sequence[Entry], contents: dict[str, str], *, archive_url: str, brand: str) -> str:
    """An Atom feed of ``entries`` (full HTML content each), with self and alternate links."""
    base = archive_url + (f"{place.folder}/" if place.folder else "")
    ordered = newest_first(entries)
    updated = max((entry.updated for entry in ordered), default=EPOCH)
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang={quoteattr(place.lang)}>',
        f"  <id>{escape(base + 'feed.xml')}</id>",
        f"  <title>{escape(place.title)}</title>",
        f"  <updated>{escape(updated)}</updated>",
        f"  <author><name>{escape(brand)}</name></author>",
        f'  <link rel="self" type="application/atom+xml" href={quoteattr(base + "feed.xml")}/>',
        f'  <link rel="alternate" type="text/html" href={quoteattr(base)}/>',
        "  <generator>newsletter</generator>",
    ]
    for entry in ordered:
        page = f"{archive_url}{entry.slug}/"
        lines += [
            f"  <entry xml:lang={quoteattr(entry.result.issue.lang)}>",
            f"    <id>{escape(tag_id(archive_url, entry))}</id>",
            f"    <title>{escape(entry.subject)}</title>",
            f'    <link rel="alternate" type="text/html" href={quoteattr(page)}/>',
            f"    <published>{escape(entry.published)}</published>",
            f"    <updated>{escape(entry.updated)}</updated>",
            *([f"    <summary>{escape(entry.preheader)}</summary>"] if entry.preheader else []),
            f'    <content type="html" xml:base={quoteattr(page)}>{escape(contents[entry.slug])}</content>',
            "  </entry>",
        ]
    lines.append("</feed>")
    return "\n".join(lines) + "\n"


def sitemap(urls: Sequence[tuple[str, str]]) -> str:
    """A sitemaps.org sitemap of ``(absolute URL, last modified or '')`` pairs."""
    lines = ['<?xml version="1.0" encoding="utf-8"?>',
             '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">']
    for url, modified in urls:
        lastmod = f"<lastmod>{escape(modified)}</lastmod>" if modified else ""
        lines.append(f"  <url><loc>{escape(url)}</loc>{lastmod}</url>")
    lines.append("</urlset>")
    return "\n".join(lines) + "\n"


def signup(info: ListInfo, settings: Settings) -> str:
    """The signup form of list ``info`` posting to ``serve``, or '' when the list takes no signups."""
    if not info.signup:
        return ""
    from newsletter.audience.forms import signup_form

    action = f"{settings.newsletter_public_url.rstrip('/')}/subscribe/{info.name}"
    return signup_form(action, {"name": info.name, "title": info.title}, settings)
