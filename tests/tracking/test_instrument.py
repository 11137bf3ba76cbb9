"""TrackingRewriter: per-recipient click links and open pixel."""

from __future__ import annotations

import html
import re

from newsletter import tokens
from newsletter.tracking.instrument import TrackingRewriter

SECRET = "instrument-test-secret-key-0123"
PUBLIC = "https://news.example.org"
LINKS = ["https://example.org/a?x=1&y=2", "https://example.org/b"]

HTML = """<!doctype html><html><head><link href="https://example.org/b" rel="stylesheet"></head><body>
<p><a href="https://example.org/a?x=1&amp;y=2" style="color:red">A</a>
<a class="btn" title="1 > 0" href='https://example.org/b'>B</a>
<a href="https://example.org/not-listed">other</a>
<a href="mailto:hello@example.org">mail</a>
<a href="%%unsubscribe_url%%">Unsubscribe</a>
<a data-href="https://example.org/b">data attribute</a></p>
</body></html>"""


def _hrefs(text: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r"""\shref=["']([^"']*)["']""", text)]


def test_listed_links_become_click_urls_for_that_recipient():
    out = TrackingRewriter(HTML, LINKS, public_url=PUBLIC, secret_key=SECRET, send_id=9).for_recipient(42)
    hrefs = _hrefs(out)
    assert tokens.click_url(PUBLIC, SECRET, 9, 42, 0) in hrefs
    assert tokens.click_url(PUBLIC, SECRET, 9, 42, 1) in hrefs
    for href in hrefs:
        if "/c/" in href:
            send_id, subscriber_id, index = tokens.read_click(SECRET, href.rsplit("/c/", 1)[1])
            assert (send_id, subscriber_id) == (9, 42) and index in (0, 1)


def test_other_links_placeholders_and_non_anchor_hrefs_stay():
    out = TrackingRewriter(HTML, LINKS, public_url=PUBLIC, secret_key=SECRET, send_id=9).for_recipient(42)
    assert 'href="%%unsubscribe_url%%"' in out
    assert 'href="mailto:hello@example.org"' in out
    assert 'href="https://example.org/not-listed"' in out
    assert '<link href="https://example.org/b" rel="stylesheet">' in out
    assert 'data-href="https://example.org/b"' in out
    assert 'style="color:red">A</a>' in out and 'title="1 > 0"' in out


def test_open_pixel_sits_just_before_body_end():
    out = TrackingRewriter(HTML, LINKS, public_url=PUBLIC, secret_key=SECRET, send_id=9).for_recipient(42)
    pixel = tokens.open_url(PUBLIC, SECRET, 9, 42)
    assert out.endswith(f'<img src="{pixel}" width="1" height="1" alt="" style="display:block;border:0"></body></html>')
    assert out.count("<img") == 1


def test_only_the_rewritten_parts_change():
    rewriter = TrackingRewriter(HTML, LINKS, public_url=PUBLIC, secret_key=SECRET, send_id=9)
    assert rewriter.link_slots == 2
    out = rewriter.for_recipient(1)
    restored = re.sub(r'href="https://news\.example\.org/c/[^"]+"', "HREF", out)
    restored = re.sub(r'<img src="https://news\.example\.org/o/[^"]+"[^>]*>', "", restored)
    restored = re.sub(r'<a href="https://news\.example\.org/k/[^"]+"[^>]*></a>', "", restored)  # the canary
    original = HTML.replace('href="https://example.org/a?x=1&amp;y=2"', "HREF").replace(
        "href='https://example.org/b'", "HREF")
    assert restored == original


def test_recipients_get_different_tokens_and_html_without_body_gets_pixel_at_end():
    rewriter = TrackingRewriter('<a href="https://example.org/b">b</a>', LINKS, public_url=PUBLIC,
                                secret_key=SECRET, send_id=3)
    first, second = rewriter.for_recipient(1), rewriter.for_recipient(2)
    assert first != second
    canary = tokens.canary_url(PUBLIC, SECRET, 3, 1)
    assert first.startswith(f'<a href="{tokens.click_url(PUBLIC, SECRET, 3, 1, 1)}">b</a><a href="{canary}" ')
