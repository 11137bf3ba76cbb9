"""The Atom feeds, read by a real feed parser (feedparser) and checked against RFC 4287's requirements."""

from __future__ import annotations

import feedparser
import pytest
from lxml import etree
from lxml import html as lxml_html

pytestmark = pytest.mark.sqlite_only  # about the feed's text; the store's part runs on both in test_site.py

ATOM = "{http://www.w3.org/2005/Atom}"


def _rfc4287_problems(data: bytes) -> list[str]:
    """What a feed lacks of RFC 4287's MUSTs (sections 4.1.1, 4.1.2, 4.2.7.2), each as a phrase."""
    root = etree.fromstring(data)
    problems = [] if root.tag == f"{ATOM}feed" else ["the root is not atom:feed"]

    def one(element, name, where):
        found = element.findall(f"{ATOM}{name}")
        if len(found) != 1:
            problems.append(f"{where} has {len(found)} atom:{name}, needs exactly one")
        return found[0] if found else None

    for name in ("id", "title", "updated"):
        one(root, name, "feed")
    entries = root.findall(f"{ATOM}entry")
    if not root.findall(f"{ATOM}author") and any(not e.findall(f"{ATOM}author") for e in entries):
        problems.append("feed has no atom:author and an entry has none either")
    if not any(link.get("rel") == "self" for link in root.findall(f"{ATOM}link")):
        problems.append("feed has no rel=self link")  # a SHOULD, which this project treats as a must
    for index, entry in enumerate(entries):
        where = f"entry {index}"
        for name in ("id", "title", "updated"):
            one(entry, name, where)
        content = entry.findall(f"{ATOM}content")
        alternates = [link for link in entry.findall(f"{ATOM}link") if link.get("rel", "alternate") == "alternate"]
        if not content and not alternates:
            problems.append(f"{where} has neither atom:content nor an alternate link")
        pairs = {(link.get("type"), link.get("hreflang")) for link in alternates}
        if len(pairs) != len(alternates):
            problems.append(f"{where} has two alternate links of the same type and language")
    for element in root.iter(f"{ATOM}updated", f"{ATOM}published"):  # RFC 3339 date-times
        text = element.text or ""
        if len(text) < 20 or text[10] != "T" or not (text.endswith("Z") or text[-6] in "+-"):
            problems.append(f"{element.tag} {text!r} is not an RFC 3339 date-time")
    for element in root.iter(f"{ATOM}id"):  # an IRI: a scheme, then something
        if ":" not in (element.text or "") or not (element.text or "").split(":")[0].isalpha():
            problems.append(f"id {element.text!r} is not an IRI")
    return problems


def test_every_feed_meets_rfc_4287(sent):
    site = sent.build()
    feeds = [name for name in site.files if name.endswith("feed.xml")]
    assert sorted(feeds) == ["feed.xml", "news/feed.xml", "team/feed.xml"]
    for name in feeds:
        assert _rfc4287_problems(site.files[name]) == [], name
        parsed = feedparser.parse(site.files[name])
        assert not parsed.bozo, (name, parsed.get("bozo_exception"))
        assert parsed.version == "atom10"


def test_the_feed_as_a_reader_sees_it(sent):
    site = sent.build()
    parsed = feedparser.parse(site.files["feed.xml"])
    feed = parsed.feed
    assert feed.title == "Harbour: all issues"
    assert feed.id == "https://news.example.org/archive/feed.xml"
    assert {(link.rel, link.href) for link in feed.links} == {
        ("self", "https://news.example.org/archive/feed.xml"), ("alternate", "https://news.example.org/archive/")}
    assert feed.updated == "2026-12-15T08:02:00Z"
    assert [e.title for e in parsed.entries] == ["Harbour News: December", "Harbour News: November"]
    december, november = parsed.entries
    assert december.id == "tag:news.example.org,2026-12-15:archive/2026-12-harbour"
    assert december.link == "https://news.example.org/archive/2026-12-harbour/"
    assert (december.published, december.updated) == ("2026-12-15T08:00:00Z", "2026-12-15T08:02:00Z")
    assert december.summary == "Winter plans."
    # Full HTML content: the whole issue, neutralised as on its page.
    [content] = december.content
    assert content.type == "text/html"
    body = lxml_html.fromstring(content.value).text_content()
    assert "Hi there, winter is coming." in body and "Bye for now." in body
    assert "%%" not in content.value and "Unsubscribe" not in body and "This copy is for" not in body
    assert "WATCH THE VIDEOS" in lxml_html.fromstring(november.content[0].value).text_content()
    team = feedparser.parse(site.files["team/feed.xml"])
    assert team.feed.id == "https://news.example.org/archive/team/feed.xml"
    assert [e.id for e in team.entries] == [november.id]  # one issue, one id, in every feed


def test_ids_stay_when_the_feed_is_built_again_later(sent):
    before = feedparser.parse(sent.build().files["feed.xml"])
    issue = sent.write("2027-01-harbour", 'title: "Harbour News: January"')
    sent.send(issue, "news")
    sent.sql("UPDATE sends SET started_at = '2027-01-12T08:00:00Z', finished_at = '2027-01-12T08:01:00Z'"
             " WHERE slug = '2027-01-harbour'")
    after = feedparser.parse(sent.build().files["feed.xml"])
    assert [e.id for e in after.entries][1:] == [e.id for e in before.entries]
    assert after.entries[0].title == "Harbour News: January"
    assert after.feed.updated > before.feed.updated


def test_a_list_with_nothing_sent_yet_has_a_valid_empty_feed(newsroom):
    assert newsroom.cli("lists", "create", "fresh", "--signup").exit_code == 0
    site = newsroom.build()
    assert _rfc4287_problems(site.files["fresh/feed.xml"]) == []
    parsed = feedparser.parse(site.files["fresh/feed.xml"])
    assert not parsed.bozo and parsed.entries == []
    assert b"No issues yet." in site.files["fresh/index.html"]
