"""Neutralising a sent email for the web, on a team's own layout: whatever its markup, nothing personal stays."""

from __future__ import annotations

from pathlib import Path

from lxml import html as lxml_html

from newsletter.archive.collect import Entry
from newsletter.archive.page import neutralise
from newsletter.compose.model import ComposeResult, Issue

PAGE = "https://news.example.org/archive/custom/"

CUSTOM = """<!doctype html>
<html lang="de"><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"><title>Custom</title></head>
<body>
<p class="greeting">Hallo %%name%%!</p>
<p>Inhalt mit <a href="https://example.org/x">Link</a> - E-Mail | Web.</p>
<img src="https://news.example.org/o/%%email%%.gif" alt="" width="1" height="1">
<footer>
<p>Abmelden: <a href="%%unsubscribe_url%%">hier</a> | <a href="%%preferences_url%%">Einstellungen</a> | <a href="%%web_url%%">Im Browser</a> | <a href="https://example.org/impressum">Impressum</a></p>
<p><a href="mailto:%%email%%">%%email%%</a></p>
<div><span>Gesendet an %%email%%</span> <span>Beispiel GmbH</span></div>
</footer>
</body></html>
"""


def _entry(html: str, visibility: str = "public", preheader: str = "Kurz gesagt") -> Entry:
    issue = Issue(path=Path("custom.md"), slug="custom", meta={}, body="", body_line=1, subject="Custom",
                  preheader=preheader, lang="de", archive=visibility)
    result = ComposeResult(issue=issue, html=html, text="", links=[], findings=[])
    return Entry("custom", result, visibility, ["news"], "2026-11-24T08:00:00Z", "2026-11-24T08:05:00Z", "b" * 64)


def test_a_custom_layout_is_neutralised():
    page, content = neutralise(_entry(CUSTOM), PAGE, feed_href="../feed.xml", csp="default-src 'none'")
    doc = lxml_html.fromstring(page)
    assert "%%" not in page and "%%" not in content
    assert doc.cssselect(".greeting")[0].text == "Hallo there!"
    assert "Link - E-Mail | Web." in doc.text_content()  # text elsewhere keeps its dashes and bars
    assert not doc.cssselect("img")  # the open pixel, made for one reader
    assert [a.get("href") for a in doc.cssselect("footer a")] == ["https://example.org/impressum"]
    [footer_line, company] = [p.text_content() for p in doc.cssselect("footer > p, footer > div")]
    assert footer_line == "Abmelden: | Impressum"  # the removed links' separators went with them
    assert company.strip() == "Beispiel GmbH"  # the address sentence went, its neighbour stayed
    # No preheader element in this layout: the archive adds one, under the navigation.
    [nav, shown] = list(doc.body)[:2]
    assert nav.get("class") == "nl-archive-nav" and shown.text == "Kurz gesagt"
    head = doc.head
    assert head[0].get("charset") == "utf-8" and len(head.cssselect("meta[charset], meta[http-equiv=Content-Type]")) == 1
    assert head.cssselect("meta[name=newsletter-build]")[0].get("content") == "b" * 64
    assert head.cssselect("link[rel=alternate]")[0].get("href") == "../feed.xml"
    assert "nl-archive-nav" not in content and "Hallo there!" in content


def test_unlisted_pages_say_noindex_and_name_no_feed():
    page, _ = neutralise(_entry(CUSTOM, "unlisted"), PAGE, feed_href="../feed.xml", csp="default-src 'none'")
    doc = lxml_html.fromstring(page)
    assert doc.cssselect("meta[name=robots]")[0].get("content") == "noindex"
    assert not doc.cssselect("link[rel=alternate]")


def test_same_entry_same_bytes():
    first = neutralise(_entry(CUSTOM), PAGE, feed_href="../feed.xml", csp="x")
    assert first == neutralise(_entry(CUSTOM), PAGE, feed_href="../feed.xml", csp="x")
