"""A composed issue, instrumented for one recipient, then clicked through the real app."""

from __future__ import annotations

import html
import re

from newsletter.compose import compose_issue
from newsletter.tracking.instrument import TrackingRewriter


def test_every_tracked_link_of_a_composed_issue_leads_back_to_its_target(tmp_path, settings, client, seed_send,
                                                                         count_events):
    issue = tmp_path / "tracked.md"
    issue.write_text(
        "---\ntitle: Tracked\nseo:\n  url: https://news.example.org/blog/tracked\n  description: Pre\n---\n"
        "# Hello\n\nRead [one](https://example.org/one?a=1&b=2), [two](https://example.org/two) and "
        "[one again](https://example.org/one?a=1&b=2), or [write](mailto:team@example.org).\n",
        encoding="utf-8")
    result = compose_issue(issue, settings)
    links = result.web_links
    assert len(links) == 2
    ids = seed_send(links=links)
    ann = ids["subscribers"][0]
    rewriter = TrackingRewriter(result.html, links, public_url="http://testserver",
                                secret_key=settings.newsletter_secret_key, send_id=ids["send_id"])
    out = rewriter.for_recipient(ann)
    hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]*)"', out)]
    assert not set(links) & set(hrefs)  # every issue link is now tracked
    assert "%%unsubscribe_url%%" in hrefs and "mailto:team@example.org" in hrefs
    tracked = [h for h in hrefs if h.startswith("http://testserver/c/")]
    assert len(tracked) == 3
    targets = [client.get(h[len("http://testserver"):]).headers["location"] for h in tracked]
    assert targets == [links[0], links[1], links[0]]
    pixel = re.search(r'<img src="http://testserver(/o/[^"]+)"', out).group(1)
    assert client.get(html.unescape(pixel)).headers["content-type"] == "image/gif"
    assert count_events("type = 'click' AND subscriber_id = ?", ann) == 3
    assert count_events("type = 'open' AND subscriber_id = ?", ann) == 1
