"""An issue's archive page: the HTML that was sent, with everything personal taken out.

- per-recipient values become their fallbacks ("Hi there,"), and a sentence
  naming the recipient's address goes;
- unsubscribe and preference links go, with the separators between them, and
  "View in browser" when it points at the page itself; so does anything else that carries a per-recipient value (a tracking pixel, a
  tracked link);
- the preheader, hidden in the email, is shown under the navigation;
- the head says what the page is: its canonical address, the build id that was
  sent, the feed, and ``noindex`` for an unlisted issue.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, cast

from newsletter.personalize import personalize, placeholder

if TYPE_CHECKING:
    from lxml.html import HtmlElement

    from newsletter.archive.collect import Entry

#: Per-recipient links a page must not carry (a reader's unsubscribe link is theirs alone).
_PERSONAL_LINKS = (placeholder("unsubscribe_url"), placeholder("preferences_url"), placeholder("email"))
_ANY_PLACEHOLDER = re.compile(r"%%[a-z_]+%%")
_SEPARATORS = "\u00b7|\u2022"
# A run of separators standing alone between blanks ("a · · b"), never a character inside a word.
_SEPARATOR_RUN = re.compile(rf"\s*(?<!\S)[{_SEPARATORS}](?:\s+[{_SEPARATORS}])*(?!\S)\s*")
_PADDING = re.compile("[\u034f\u200c\u00a0\u200b\u2007\u00ad]+$")
#: Blocks that are dropped whole when they name the recipient's address ("This email was sent to …").
_BLOCKS = ("p", "li", "div", "span", "h1", "h2", "h3", "h4", "h5", "h6")

#: The archive's own additions, in the email's colours; muted text keeps 4.5:1 in light and dark mode.
ARCHIVE_STYLE = (
    ".nl-archive-nav{max-width:544px;margin:0 auto;padding:12px 28px 0;font-size:14px;line-height:1.5;"
    "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif}"
    ".nl-archive-nav a{color:#0b5cad}"
    ".nl-archive-preheader{max-width:544px;margin:0 auto;padding:8px 28px 12px;font-size:15px;line-height:1.5;"
    "color:#57606a;font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif}"
    "@media (prefers-color-scheme: dark){.nl-archive-nav a{color:#7cb7ff !important}"
    ".nl-archive-preheader{color:#9da7b3 !important}}"
)


def content_security_policy(form_origin: str) -> str:
    """What archive pages may load: the issue's images and inline styles; forms post to ``serve`` only."""
    return ("default-src 'none'; img-src http: https: data:; style-src 'unsafe-inline'; "
            f"form-action {form_origin}; base-uri 'none'")


def neutralise(entry: Entry, page_url: str, *, feed_href: str, csp: str) -> tuple[str, str]:
    """The archive page of ``entry`` (whose address is ``page_url``) and its body's content for feeds.

    Both are deterministic: the same entry gives the same text.
    """
    from lxml import html as lxml_html

    doc = cast("HtmlElement", lxml_html.document_fromstring(entry.result.html))
    _drop_personal(doc, page_url)
    _show_preheader(doc, entry.preheader)
    _head(doc, entry, page_url, feed_href, csp)
    body = doc.body
    nav = lxml_html.fragment_fromstring('<div class="nl-archive-nav"><a href="../">All issues</a></div>')
    body.insert(0, nav)
    page = lxml_html.tostring(doc, encoding="unicode", doctype="<!doctype html>", method="html")
    body.remove(nav)
    for comment in body.xpath(".//comment()"):  # Outlook's conditional tables mean nothing to a feed reader
        comment.drop_tree()
    inner = (body.text or "") + "".join(lxml_html.tostring(child, encoding="unicode", method="html") for child in body)
    values = {"web_url": page_url}  # every other value falls back: name to "there", the rest to nothing
    return (personalize(page, values, is_html=True).rstrip("\n") + "\n",
            personalize(inner, values, is_html=True).strip() + "\n")


def _drop_personal(doc: HtmlElement, page_url: str) -> None:
    touched: list[HtmlElement] = []
    for link in list(doc.iter("a")):
        href = link.get("href") or ""
        # "View in browser" is the page itself here
        if any(value in href for value in _PERSONAL_LINKS) or href in (page_url, placeholder("web_url")):
            parent = link.getparent()
            link.drop_tree()
            if parent is not None:
                touched.append(parent)
    for element in list(doc.iter("img")):  # an open pixel or any image made for one reader
        if _ANY_PLACEHOLDER.search(element.get("src") or ""):
            element.drop_tree()
    email = placeholder("email")
    for element in list(doc.body.iter()):
        own = (element.text or "") + "".join(child.tail or "" for child in element)
        if element.tag in _BLOCKS and email in own and element.getparent() is not None:
            element.drop_tree()
    for parent in touched:
        _tidy(parent)


def _tidy(element: HtmlElement) -> None:
    """Separators left between links that were removed go; an element left with nothing goes too."""
    if not element.text_content().strip(" \t\r\n\u00a0" + _SEPARATORS) and not len(element.xpath(".//img")):
        if element.getparent() is not None and element.tag != "body":
            element.drop_tree()
        return
    children = list(element)
    if not children:
        element.text = _SEPARATOR_RUN.sub(" ", element.text or "").strip()
        return
    # Between the text and the first link, and between two links, one separator is enough; none before
    # the first thing left or after the last.
    element.text = _SEPARATOR_RUN.sub(_one_separator, re.sub(rf"^[\s{_SEPARATORS}]+", "", element.text or ""))
    for index, child in enumerate(children):
        tail = child.tail or ""
        if index == len(children) - 1:
            child.tail = re.sub(rf"[\s{_SEPARATORS}]+$", "", tail) or None
        else:
            child.tail = _SEPARATOR_RUN.sub(_one_separator, tail)


def _one_separator(run: re.Match[str]) -> str:
    kind = next(char for char in run.group(0) if not char.isspace())
    return f" {kind} "


def _show_preheader(doc: HtmlElement, preheader: str) -> None:
    from lxml import html as lxml_html

    hidden = doc.find_class("nl-preheader")
    if hidden:
        shown = hidden[0]
        for attribute in ("style", "aria-hidden", "hidden"):
            shown.attrib.pop(attribute, None)
        shown.set("class", "nl-archive-preheader")
        shown.text = _PADDING.sub("", shown.text or "")
        for extra in hidden[1:]:
            extra.drop_tree()
        return
    if preheader:
        element = lxml_html.Element("div", {"class": "nl-archive-preheader"})
        element.text = preheader
        doc.body.insert(0, element)


def _head(doc: HtmlElement, entry: Entry, page_url: str, feed_href: str, csp: str) -> None:
    from lxml import html as lxml_html

    head = doc.head
    added = [
        lxml_html.Element("meta", {"http-equiv": "Content-Security-Policy", "content": csp}),
        lxml_html.Element("meta", {"name": "description", "content": entry.preheader}),
        lxml_html.Element("meta", {"name": "newsletter-build", "content": entry.build_id}),
        lxml_html.Element("meta", {"name": "newsletter-sent", "content": entry.published}),
        lxml_html.Element("link", {"rel": "canonical", "href": page_url}),
    ]
    if entry.visibility == "public":
        added.append(lxml_html.Element("link", {"rel": "alternate", "type": "application/atom+xml",
                                                "title": "All issues", "href": feed_href}))
    else:
        added.append(lxml_html.Element("meta", {"name": "robots", "content": "noindex"}))
    style = lxml_html.Element("style", {"type": "text/css"})
    style.text = ARCHIVE_STYLE
    added.append(style)
    for meta in [m for m in head.iter("meta") if m.get("charset") is not None
                 or (m.get("http-equiv") or "").lower() == "content-type"]:
        meta.drop_tree()  # libxml2 drops http-equiv charsets when it writes the page; one <meta charset> instead
    # The charset first, before anything a browser reads as text (a static host may send no charset).
    for element in reversed([lxml_html.Element("meta", {"charset": "utf-8"}), *added]):
        head.insert(0, element)
