"""The archive's files: what goes in (real sends only, exactly as sent), what comes out (nothing personal),
visibility, determinism and `newsletter archive build`."""

from __future__ import annotations

import re

import pytest
from lxml import html as lxml_html

from newsletter.compose import compose_issue


def _page(site, slug):
    return site.files[f"{slug}/index.html"].decode()


def test_sent_issues_have_pages_indexes_feeds_and_a_sitemap(sent):
    site = sent.build()
    assert site.findings == []
    assert sorted(site.files) == [
        "2026-11-harbour/index.html", "2026-12-harbour/index.html", "feed.xml", "index.html",
        "news/feed.xml", "news/index.html", "sitemap.xml", "team/feed.xml", "team/index.html",
    ]
    top = lxml_html.fromstring(site.files["index.html"])
    assert [a.text for a in top.cssselect("ol.nl-issues a")] == ["Harbour News: December", "Harbour News: November"]
    assert [t.get("datetime") for t in top.cssselect("time")] == ["2026-12-15T08:00:00Z", "2026-11-24T08:00:00Z"]
    assert [p.text for p in top.cssselect(".nl-preheader")] == [
        "Winter plans.", "Release 4.2 is out and the summit videos are online."]
    team = lxml_html.fromstring(site.files["team/index.html"])
    assert [a.get("href") for a in team.cssselect("ol.nl-issues a")] == ["../2026-11-harbour/"]
    assert "https://news.example.org/archive/2026-12-harbour/" in site.files["sitemap.xml"].decode()
    assert site.modified["index.html"] == "2026-12-15T08:02:00Z"
    assert site.modified["team/index.html"] == "2026-11-24T08:05:00Z"


def test_the_page_is_the_sent_html_with_nothing_personal(sent):
    site = sent.build()
    page = _page(site, "2026-12-harbour")
    doc = lxml_html.fromstring(page)
    assert "%%" not in page
    assert "Hi there, winter is coming." in doc.text_content()  # the name's fallback
    assert "This copy is for" not in page  # the sentence naming the recipient's address went
    assert "sent to" not in doc.text_content()  # so did the footer's
    assert not doc.cssselect("a.nl-unsubscribe[href*='/u/'], a[href*='/p/']")
    assert "Unsubscribe" not in doc.text_content() and "Manage your subscription" not in doc.text_content()
    footer = doc.cssselect(".nl-footer")[0].text_content()
    assert "\u00b7" not in footer  # no separators left between links that went
    # The preheader is visible, without the padding that hides the rest of the email in an inbox.
    [shown] = doc.cssselect(".nl-archive-preheader")
    assert shown.text == "Winter plans." and "display:none" not in (shown.get("style") or "")
    # The build id that was sent, and the page's own address.
    result = compose_issue(sent.root / "issues" / "2026-12-harbour.md", sent.config)
    from newsletter.compose.build import identify

    assert doc.cssselect("meta[name=newsletter-build]")[0].get("content") == identify(result).id
    assert doc.cssselect("link[rel=canonical]")[0].get("href") == "https://news.example.org/archive/2026-12-harbour/"
    assert not doc.cssselect("meta[name=robots]")
    # Every link and image of the email is still there.
    for link in result.web_links:
        assert link.replace("&", "&amp;") in page or link in page


def test_only_the_bytes_that_were_sent(sent):
    path = sent.root / "issues" / "2026-11-harbour.md"
    path.write_text(path.read_text().replace("The release is out.", "The release is out (edited)."))
    site = sent.build()
    assert "2026-11-harbour/index.html" not in site.files
    assert [f.message for f in site.findings] == ["issue 2026-11-harbour changed since it was sent; not archived"]
    assert "(edited)" not in b"".join(site.files.values()).decode()
    assert "2026-11-harbour" not in site.files["feed.xml"].decode()


def test_a_changed_setting_that_changes_the_html_is_a_change_too(sent):
    site = sent.build(sent.config.with_overrides(newsletter_brand="Other brand"))
    assert {f.where for f in site.findings} == {"2026-11-harbour", "2026-12-harbour"}
    assert not any(name.endswith("harbour/index.html") for name in site.files)


def test_a_send_that_reached_nobody_and_a_missing_file(newsroom):
    newsroom.subscribe("news", "ann@example.org")
    issue = newsroom.write("2026-11-harbour")
    newsroom.send(issue, "news")
    newsroom.sql("UPDATE deliveries SET state = 'failed'")
    site = newsroom.build()
    assert site.issues == 0 and site.findings == []
    newsroom.sql("UPDATE deliveries SET state = 'accepted'")
    assert newsroom.build().issues == 1
    issue.unlink()
    site = newsroom.build()
    assert site.issues == 0
    assert [f.message for f in site.findings] == [
        f"issue 2026-11-harbour was sent but its file is not found (looked in {newsroom.root / 'issues'}/); not archived"]


def test_a_send_without_a_release_is_found_by_its_slug(newsroom):
    newsroom.subscribe("news", "ann@example.org")
    issue = newsroom.write("2026-11-harbour")
    newsroom.send(issue, "news")
    newsroom.sql("DELETE FROM releases")  # a send from before releases were recorded
    assert newsroom.build().issues == 1


def test_test_sends_are_not_archived(newsroom):
    issue = newsroom.write("2026-11-harbour")
    result = newsroom.cli("test-send", issue, "--to", "reviewer@example.org")
    assert result.exit_code == 0, result.output
    site = newsroom.build()
    assert site.issues == 0 and "2026-11-harbour" not in site.files["index.html"].decode()


def test_a_resend_to_non_readers_leaves_the_archive_as_it_was(newsroom):
    newsroom.subscribe("news", "ann@example.org", "bob@example.org")
    issue = newsroom.write("2026-11-harbour")
    newsroom.send(issue, "news")
    (first,) = newsroom.sql("SELECT id FROM sends")
    newsroom.sql("UPDATE sends SET finished_at = '2026-11-01T08:00:00Z'")  # the resend must not move it
    before = newsroom.build().files
    result = newsroom.cli("send", issue, "--list", "news", "--to-non-readers-of", first[0], "--subject",
                          "In case you missed it", "--yes")
    assert result.exit_code == 0, result.output
    assert len(newsroom.sql("SELECT id FROM sends WHERE audience LIKE 'non-readers-of:%'")) == 1
    assert newsroom.build().files == before


@pytest.mark.sqlite_only
def test_unlisted_and_none(newsroom):
    newsroom.subscribe("news", "ann@example.org")
    hidden = newsroom.write("quiet", 'title: "Quiet one"\narchive: unlisted')
    gone = newsroom.write("gone", 'title: "Gone one"\narchive: none')
    shown = newsroom.write("shown", 'title: "Shown one"')
    for issue in (hidden, gone, shown):
        newsroom.send(issue, "news")
    site = newsroom.build()
    assert "quiet/index.html" in site.files and "gone/index.html" not in site.files
    assert site.unlisted == {"quiet/index.html"}
    page = lxml_html.fromstring(site.files["quiet/index.html"])
    assert page.cssselect("meta[name=robots]")[0].get("content") == "noindex"
    assert not page.cssselect("link[type='application/atom+xml']")
    everything_listed = b"".join(data for name, data in site.files.items() if not name.endswith("/index.html")
                                 or name.count("/") == 1 and name.split("/")[0] in ("news",))
    assert b"quiet" not in everything_listed and b"gone" not in everything_listed
    assert b"shown" in everything_listed
    # The email's "View in browser": the archive page, unless the issue is not on the web.
    assert "https://news.example.org/archive/shown/" in compose_issue(shown, newsroom.config).html
    assert "https://news.example.org/archive/quiet/" in compose_issue(hidden, newsroom.config).html
    assert "View in browser" not in compose_issue(gone, newsroom.config).html
    elsewhere = newsroom.config.with_overrides(newsletter_archive_url="https://archive.example.net/past")
    assert 'href="https://archive.example.net/past/shown/"' in compose_issue(shown, elsewhere).html


@pytest.mark.sqlite_only
def test_signup_form_on_the_index_of_a_list_that_takes_signups(sent):
    assert sent.cli("lists", "update", "team", "--signup", "--title", "The Team").exit_code == 0
    site = sent.build()
    team = lxml_html.fromstring(site.files["team/index.html"])
    [form] = team.cssselect("form.newsletter-signup")
    assert form.get("action") == "https://news.example.org/subscribe/team"
    assert team.cssselect("h1")[0].text == "The Team: all issues"
    assert not lxml_html.fromstring(site.files["news/index.html"]).cssselect("form")
    assert not lxml_html.fromstring(site.files["index.html"]).cssselect("form")


@pytest.mark.sqlite_only
def test_same_database_and_issues_same_bytes(sent, tmp_path):
    first, second = sent.build(), sent.build()
    assert first.files == second.files
    result = sent.cli("archive", "build", "--out", tmp_path / "site")
    assert result.exit_code == 0, result.output
    assert "2 issues, 2 lists, 9 files" in result.output
    written = {p.relative_to(tmp_path / "site").as_posix(): p.read_bytes()
               for p in (tmp_path / "site").rglob("*") if p.is_file() and p.name != ".newsletter-archive"}
    assert written == first.files


@pytest.mark.sqlite_only
def test_build_removes_what_it_no_longer_has_and_nothing_else(sent, tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    (out / "CNAME").write_text("news.example.org\n")  # files of the team's own
    (out / "about").mkdir()
    (out / "about" / "index.html").write_text("<p>About us</p>\n")
    assert sent.cli("archive", "build", "--out", out).exit_code == 0
    issue = sent.root / "issues" / "2026-12-harbour.md"
    issue.write_text(issue.read_text() + "\nA late edit.\n")
    result = sent.cli("archive", "build", "--out", out, "--strict")
    assert result.exit_code == 1
    assert "issue 2026-12-harbour changed since it was sent; not archived" in result.output
    assert not (out / "2026-12-harbour").exists()
    assert (out / "about" / "index.html").is_file()
    assert (out / "CNAME").read_text() == "news.example.org\n" and (out / "2026-11-harbour" / "index.html").is_file()
    assert b"harbour" not in (out / ".newsletter-archive").read_bytes()  # no page's address in the manifest


@pytest.mark.sqlite_only
@pytest.mark.parametrize("value", ["secret", "yes", "1"])
def test_archive_frontmatter_is_validated(newsroom, value):
    issue = newsroom.write("bad", f'title: "Bad"\narchive: {value}')
    result = newsroom.cli("check", issue)
    assert result.exit_code == 2, result.output
    assert re.search(r"frontmatter archive must be one of public, unlisted, none, got", result.output)
    assert "Traceback" not in result.output


@pytest.mark.sqlite_only
def test_archive_settings_are_validated():
    from newsletter.errors import ConfigError
    from newsletter.settings import load_settings

    with pytest.raises(ConfigError, match="NEWSLETTER_ARCHIVE_DEFAULT"):
        load_settings({"NEWSLETTER_ARCHIVE_DEFAULT": "hidden"})
    assert load_settings({"NEWSLETTER_ARCHIVE_DEFAULT": "unlisted"}).newsletter_archive_default == "unlisted"
    with pytest.raises(ConfigError, match="NEWSLETTER_ARCHIVE_URL"):
        load_settings({"NEWSLETTER_ARCHIVE_URL": "archive.example.net"})
    assert load_settings({"NEWSLETTER_ARCHIVE_URL": "https://a.example.net/x"}).archive_url == "https://a.example.net/x/"
    assert load_settings({"NEWSLETTER_PUBLIC_URL": "https://n.example.org/"}).archive_url == "https://n.example.org/archive/"


@pytest.mark.sqlite_only
def test_the_page_passes_the_emails_checks(sent):
    from newsletter.compose.checks import check_issue
    from newsletter.compose.clientsupport import check_client_support

    site = sent.build()
    for slug in ("2026-11-harbour", "2026-12-harbour"):
        result = compose_issue(sent.root / "issues" / f"{slug}.md", sent.config)
        page = _page(site, slug)

        def codes(html, issue=result.issue):
            return {f.code for f in check_issue(issue, html, "layout")}

        def support(html, where=slug):
            return {f.code for f in check_client_support(html, where, set())}

        # The same findings as the email, but for the unsubscribe link that a public page must not carry.
        assert codes(page) - {"no-unsubscribe"} == codes(result.html), slug
        assert "no-unsubscribe" not in codes(result.html)
        # Nothing the email did not use already, but the <link>s of the page's head (canonical, feed).
        assert support(page) - {"caniemail-html-link"} <= support(result.html), slug


@pytest.mark.sqlite_only
def test_names_that_cannot_be_addresses_are_left_out_with_a_warning(newsroom):
    newsroom.subscribe("Our Team", "ann@example.org")
    newsroom.subscribe("news", "bob@example.org")
    newsroom.send(newsroom.write("2026-11-harbour"), "Our Team")
    newsroom.send(newsroom.write("news", 'title: "A slug like a list"'), "news")
    site = newsroom.build()
    assert sorted(f.message for f in site.findings) == [
        "issue news: its archive address is taken by a list or a file of the archive; not archived "
        "(give it another `slug:`)",
        "list 'Our Team': its name cannot be an address of the archive (letters, digits, '.', '_' and '-' only); "
        "it has no index page",
    ]
    assert "2026-11-harbour/index.html" in site.files  # the issue is archived, in the all-lists index
    assert b"2026-11-harbour" in site.files["index.html"]
    assert "news/index.html" in site.files and b"A slug like a list" not in b"".join(site.files.values())
