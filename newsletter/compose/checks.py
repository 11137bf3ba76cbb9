"""Checks on a composed issue, each with a stable code.

| code              | severity | what                                                     |
|-------------------|----------|----------------------------------------------------------|
| html-too-large    | warning  | HTML over 102 KB: Gmail clips it and hides the footer     |
| image-no-alt      | warning  | an image without alt text                                |
| insecure-link     | warning  | an ``http://`` link or image                             |
| placeholder-link  | warning  | an empty or placeholder link (``#``, ``TODO``, example.) |
| relative-url      | error    | a site-relative URL with no base to resolve it against   |
| subject-too-long  | warning  | subject over 78 characters                               |
| missing-preheader | warning  | no preheader                                             |
| no-unsubscribe    | error    | the layout has no unsubscribe link                       |
| unsafe-html       | warning  | raw HTML that has no place in email was removed          |

``relative-url`` and ``unsafe-html`` are found while composing; the rest here.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from newsletter.compose.model import ERROR, WARNING, Finding, Issue, Link
from newsletter.personalize import placeholder

GMAIL_CLIP_BYTES = 102 * 1024
SUBJECT_MAX = 78
_PLACEHOLDER_HOSTS = {"example.com", "example.org", "example.net", "www.example.com", "localhost"}
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
    return findings


def check_issue(issue: Issue, html: str, layout_file: str) -> list[Finding]:
    """Findings about the subject, preheader, size and unsubscribe link of the composed HTML."""
    findings = []
    where = str(issue.path)
    if len(issue.subject) > SUBJECT_MAX:
        findings.append(Finding("subject-too-long", WARNING, f"subject is {len(issue.subject)} characters; inboxes cut it after about {SUBJECT_MAX}", where))
    if not issue.preheader:
        findings.append(Finding("missing-preheader", WARNING, "no preheader: add `preheader:` (or seo.description) so inboxes show a summary", where))
    size = len(html.encode("utf-8"))
    if size > GMAIL_CLIP_BYTES:
        findings.append(Finding("html-too-large", WARNING, f"HTML is {size / 1024:.0f} KB; Gmail clips messages over 102 KB and hides the footer", where))
    if f'href="{placeholder("unsubscribe_url")}"' not in html:
        findings.append(Finding("no-unsubscribe", ERROR, "layout has no unsubscribe link (an <a> whose href is recipient.unsubscribe_url)", layout_file))
    return findings
