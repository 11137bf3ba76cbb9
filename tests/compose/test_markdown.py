"""Stage 2: Markdown structure (hero, sections, buttons, raw HTML)."""

from newsletter.compose.links import LinkRewriter
from newsletter.compose.markdown import build_body
from newsletter.compose.source import load_issue


def body_of(path, settings):
    issue = load_issue(path, settings)
    rw = LinkRewriter(base_url=issue.base_url, utm=issue.utm, utm_source="n", campaign=issue.slug, source_name=str(path))
    return issue, build_body(issue, rw), rw


def test_example_structure(example_issue, settings):
    _, body, _ = body_of(example_issue, settings)
    assert body.hero == {
        "src": "https://harbour.example.org/img/harbour-summit-2026.jpg",
        "alt": "Speakers on stage at the Harbour Summit 2026",
        "title": "",
    }
    assert [s.title for s in body.sections] == [
        "Harbour Summit Videos Now Available",
        "Project News",
        "Release 4.2 at a Glance",
        "Upcoming Community Events",
    ]
    assert body.sections[3].title_html == "<strong>Upcoming Community Events</strong>"
    buttons = [b for s in body.sections for b in s.blocks if b.kind == "button"]
    assert [b.text for b in buttons] == ["WATCH THE VIDEOS >>", "Celebrate Harbour's 10th Birthday"]
    assert buttons[0].url.startswith("https://video.example.net/c/harbour?utm_source=n")


def test_subject_from_first_h1_is_not_repeated(write_issue, settings):
    path = write_issue("# The Subject\n\nIntro.\n\n## Part\n\ntext\n", frontmatter="preheader: p")
    issue, body, _ = body_of(path, settings)
    assert body.subject_from_h1 == "The Subject"
    assert [s.title for s in body.sections] == ["", "Part"]
    assert "The Subject" not in "".join(b.html for s in body.sections for b in s.blocks)


def test_link_paragraph_without_bold_or_arrows_is_not_a_button(write_issue, settings):
    path = write_issue("[plain link](https://a.example.com/)\n\n[Read on >>](https://b.example.com/)\n\n**bold** and [x](https://c.example.com/)\n")
    _, body, _ = body_of(path, settings)
    kinds = [(b.kind, b.text) for b in body.sections[0].blocks]
    assert kinds[1] == ("button", "Read on >>")
    assert kinds[0][0] == "html" and kinds[2][0] == "html"


def test_unsafe_raw_html_removed_with_warnings(write_issue, settings):
    path = write_issue(
        'Hello <span onclick="x()">there</span>\n\n<script>alert(1)</script>\n\n'
        '<iframe src="https://evil.example.com"></iframe>\n\n<form action="/x"><input name=a></form>\n\n'
        '<div class="keep"><a href="/raw">raw link</a></div>\n'
    )
    _, body, rw = body_of(path, settings)
    html = "".join(b.html for s in body.sections for b in s.blocks)
    assert "<script" not in html and "<iframe" not in html and "<form" not in html and "onclick" not in html
    assert '<div class="keep">' in html and "there" in html
    assert "https://news.example.org/raw?utm_source=n" in html  # raw HTML links get the same rewriting
    codes = [f.code for f in body.findings]
    assert codes.count("unsafe-html") >= 4


def test_tables_strikethrough_autolinks(write_issue, settings):
    path = write_issue("| a | b |\n|---|---|\n| 1 | 2 |\n\n~~old~~ see https://auto.example.com/x\n")
    _, body, rw = body_of(path, settings)
    html = body.sections[0].blocks[0].html
    assert '<div class="nl-scroll"><table class="nl-table">' in html and "<s>old</s>" in html
    assert any(link.url.startswith("https://auto.example.com/x?utm_source=") for link in rw.links)
