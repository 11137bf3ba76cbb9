"""Checks on a composed issue, each with a stable code.

| code              | severity | what                                                     |
|-------------------|----------|----------------------------------------------------------|
| html-too-large    | warning  | HTML over 102 KB: Gmail clips it and hides the footer;    |
|                   |          | an error for ``send`` unless allowed (``send_blockers``)  |
| image-no-alt      | warning  | an image without alt text                                |
| insecure-link     | warning  | an ``http://`` link or image                             |
| placeholder-link  | warning  | an empty or placeholder link (``#``, ``TODO``, example.) |
| relative-url      | error    | a site-relative URL with no base to resolve it against   |
| subject-too-long  | warning  | subject over 78 characters                               |
| subject-control-character | error | CR, LF, U+2028 or another control character in the subject |
| url-shortener     | warning  | a link through a shortener (bit.ly …) spam filters score  |
| table-too-wide    | warning  | a table too wide for a 320 px phone (``compose/tables.py``) |
| missing-preheader | warning  | no preheader, nor a sentence of prose to fall back to    |
| unknown-placeholder | warning | ``%%word%%`` in the subject or body that names no recipient field: it |
|                   |          | would go out literally (``%%name%%``, ``%%first_name%%`` … are filled) |
| no-unsubscribe    | error    | the layout has no unsubscribe link                       |
| unsafe-html       | warning  | raw HTML that has no place in email was removed          |

``relative-url`` and ``unsafe-html`` are found while composing; the rest here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import replace
from html import unescape
from urllib.parse import urlsplit

from newsletter.compose.links import SHORTENER_HOSTS
from newsletter.compose.model import ERROR, WARNING, ComposeResult, Finding, Issue, Link
from newsletter.personalize import RECIPIENT_FIELDS, placeholder, unknown_placeholders

GMAIL_CLIP_BYTES = 102 * 1024
SUBJECT_MAX = 78
_PLACEHOLDER_HOSTS = {"example.com", "example.org", "example.net", "www.example.com", "localhost"}
#: What a Subject header may not hold: control characters (CR and LF among them)
#: and the Unicode line and paragraph separators.
_FORBIDDEN_IN_SUBJECT = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_TAG = re.compile(r"<[^>]*>|<[^>]*$|^[^<]*>")
_PLACEHOLDER_TEXT = re.compile(r"^(#|todo|tbd|tba|xxx+|url|link|placeholder|https?://?)$", re.IGNORECASE)


def _is_placeholder(url: str) -> bool:
    bare = url.strip()
    if not bare or _PLACEHOLDER_TEXT.match(bare):
        return True
    parts = urlsplit(bare)
    return parts.scheme in ("http", "https") and (parts.hostname or "") in _PLACEHOLDER_HOSTS


def check_links(issue: Issue, links: list[Link]) -> list[Finding]:
    """Findings about the issue's links and images."""
    findings = []
    for link in links:
        where = f"{issue.path}:{link.line}"
        if link.kind == "image" and not link.text.strip():
            findings.append(Finding("image-no-alt", WARNING, f"image {link.original!r} has no alt text", where))
        if link.original.strip().lower().startswith("http://"):
            findings.append(Finding("insecure-link", WARNING, f"{link.kind} uses http://: {link.original}", where))
        if link.kind == "link" and _is_placeholder(link.original):
            findings.append(Finding("placeholder-link", WARNING, f"empty or placeholder link {link.original!r} ({link.text or 'no text'})", where))
        if link.kind == "link" and (urlsplit(link.url).hostname or "").lower() in SHORTENER_HOSTS:
            findings.append(Finding("url-shortener", WARNING, f"link shortener {link.original}: spam filters score them; link to the page itself", where))
    return findings


def check_issue(issue: Issue, html: str, layout_file: str, sections: Sequence[tuple[str, int]] = ()) -> list[Finding]:
    """Findings about the subject, preheader, size and unsubscribe link of the composed HTML.

    ``sections`` are the ``(title, source line)`` of the issue's titled
    sections in order, to say where Gmail would clip an over-long email.
    """
    where = str(issue.path)
    findings = check_subject(issue.subject, where)
    for part, text in (("subject", issue.subject), ("body", issue.body)):
        for name in unknown_placeholders(text):
            known = ", ".join(f"%%{f}%%" for f in RECIPIENT_FIELDS)
            findings.append(Finding("unknown-placeholder", WARNING,
                                    f"%%{name}%% in the {part} is not a recipient field and would go out as it is "
                                    f"(known: {known})", where))
    if not issue.preheader:
        findings.append(Finding("missing-preheader", WARNING, "no preheader and no sentence of prose to use: add `preheader:` (or seo.description) so inboxes show a summary", where))
    clipped = clipping_finding(html, where, sections)
    if clipped:
        findings.append(clipped)
    if f'href="{placeholder("unsubscribe_url")}"' not in html:
        findings.append(Finding("no-unsubscribe", ERROR, "layout has no unsubscribe link (an <a> whose href is recipient.unsubscribe_url)", layout_file))
    return findings


def check_subject(subject: str, where: str) -> list[Finding]:
    """Findings about one subject line (the issue's, or a subject test's variant): too long, or a control
    character no mail header may hold."""
    findings = []
    if len(subject) > SUBJECT_MAX:
        findings.append(Finding("subject-too-long", WARNING, f"subject is {len(subject)} characters; inboxes cut it after about {SUBJECT_MAX}", where))
    bad = _FORBIDDEN_IN_SUBJECT.search(subject)
    if bad:
        findings.append(
            Finding(
                "subject-control-character",
                ERROR,
                f"subject contains {_describe(bad.group(0))}; a mail header may not (send would refuse it)",
                where,
            )
        )
    return findings


def _describe(char: str) -> str:
    names = {"\r": "a carriage return (CR)", "\n": "a line feed (LF)", "\t": "a tab"}
    return names.get(char) or f"the control character U+{ord(char):04X} ({unicodedata.name(char, 'unnamed')})"


def clipping_finding(html: str, where: str, sections: Sequence[tuple[str, int]] = ()) -> Finding | None:
    """The ``html-too-large`` warning when Gmail would clip ``html``, saying how large it
    is and where the clip falls; ``None`` when it fits."""
    data = html.encode("utf-8")
    if len(data) <= GMAIL_CLIP_BYTES:
        return None
    cut = len(data[:GMAIL_CLIP_BYTES].decode("utf-8", errors="ignore"))
    seen = html.count('class="nl-title"', 0, cut)  # section titles of the default layout before the clip
    place = ""
    if sections and 0 < seen <= len(sections):
        title, line = sections[seen - 1]
        place = f"; readers see up to section {seen} of {len(sections)}, {title!r} (line {line})"
    shown = " ".join(unescape(_TAG.sub(" ", html[max(0, cut - 2000) : cut])).split())[-60:]
    if shown:
        place += f"; the last words shown are {'…' + shown!r}"
    return Finding(
        "html-too-large",
        WARNING,
        f"HTML is {len(data) / 1024:.0f} KB; Gmail clips it after {GMAIL_CLIP_BYTES // 1024} KB{place}. "
        "Everything after, the footer and its unsubscribe link included, is hidden: shorten or split the issue",
        where,
    )


def send_blockers(result: ComposeResult, *, allow_clipping: bool) -> list[Finding]:
    """The findings that must stop a real send of ``result``.

    Every error, and the Gmail clipping warning (as an error) unless the user
    explicitly allows clipping: a clipped email hides its unsubscribe link.
    """
    blockers = list(result.errors)
    if not allow_clipping:
        blockers += [replace(f, severity=ERROR) for f in result.findings if f.code == "html-too-large" and f.severity != ERROR]
    return blockers
