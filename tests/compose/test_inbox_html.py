"""The final HTML of the inbox samples: size, Outlook's attributes, direction, preheader, raw HTML."""

from __future__ import annotations

import re

import pytest

from newsletter.compose import compose_issue, pipeline
from newsletter.compose.minify import drop_unused_css, minify_html
from newsletter.compose.sanitize import TEXT_COLUMN_WIDTH
from tests.compose.sample_issues import SAMPLE_NAMES, sample, write_long_issue

_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)


def _attr(tag: str, name: str) -> str | None:
    match = re.search(rf'\s{name}="([^"]*)"', tag)
    return match.group(1) if match else None


@pytest.fixture(scope="module")
def results():
    from newsletter.settings import load_settings

    settings = load_settings({}, env_file="/dev/null")
    return {name: compose_issue(sample(name), settings) for name in SAMPLE_NAMES}


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_samples_compose_without_errors(results, name):
    assert results[name].errors == []
    assert not [f for f in results[name].findings if f.code.startswith("caniemail-")]  # the layout's own features are acknowledged


@pytest.mark.parametrize("name", ["code-and-tables", "raw-html"])  # the samples with images
def test_outlook_gets_pixel_widths_and_valid_attributes(results, name):
    html = results[name].html
    images = _IMG.findall(html)
    for image in images:
        width = _attr(image, "width")
        assert width is not None and width.isdigit(), image  # Outlook sizes images by this alone
        assert int(width) <= 600
        assert _attr(image, "height") in (None,) or _attr(image, "height").isdigit(), image
    assert 'height="auto"' not in html
    assert 'width="100%"' not in "".join(images)
    for tag in re.findall(r"<(?!td\b|th\b|tr\b|tbody\b|thead\b|tfoot\b|col\b)[a-z]+\b[^>]*\svalign=", html):
        pytest.fail(f"valign on a non-cell element: {tag}")


def test_hero_keeps_mjml_pixel_width_and_text_images_fit_the_column(results):
    html = results["code-and-tables"].html
    hero = next(tag for tag in _IMG.findall(html) if "dashboard.png" in tag)
    assert _attr(hero, "width") == "600"
    raw = results["raw-html"].html
    banner = next(tag for tag in _IMG.findall(raw) if "pilot-banner" in tag)
    assert (_attr(banner, "width"), _attr(banner, "height")) == (str(TEXT_COLUMN_WIDTH), "181")  # 1200x400 scaled to the column
    logo = next(tag for tag in _IMG.findall(raw) if "partner-logo" in tag)
    assert (_attr(logo, "width"), _attr(logo, "height")) == ("120", "40")  # small images keep their size


def test_markdown_images_get_the_column_width(write_issue, settings):
    html = compose_issue(write_issue("# A\n\nText ![A chart](https://img.example.com/chart.png) here.\n"), settings).html
    chart = next(tag for tag in _IMG.findall(html) if "chart.png" in tag)
    assert _attr(chart, "width") == str(TEXT_COLUMN_WIDTH)
    assert "max-width:100%" in _attr(chart, "style")


def test_raw_layout_tables_keep_their_alignment_and_only_markdown_tables_are_styled(results):
    raw = results["raw-html"].html
    cells = re.findall(r"<td\b[^>]*>", raw[raw.index("partner-logo") - 400 : raw.index("starts 1 December")])
    assert any('align="center"' in cell for cell in cells) and any('align="right"' in cell for cell in cells)
    assert not any("border:1px solid" in cell for cell in cells)  # not restyled as a data table
    code = results["code-and-tables"].html
    assert '<table class="nl-table nl-table-wide"' in code and "nl-scroll" in code  # 7 columns: squeezed on phones
    assert re.search(r'<td[^>]*style="[^"]*border:1px solid #d0d7de', code)


def test_right_to_left_blocks_get_dir(results):
    mixed = results["mixed-directions"].html
    assert mixed.count('dir="rtl"') >= 7
    assert re.search(r'<p dir="rtl"[^>]*text-align:right[^>]*>مرحبا', mixed)
    assert re.search(r'<li dir="ltr"[^>]*>Third', mixed)  # an English item in an Arabic list
    assert re.search(r'<h1 class="nl-title" dir="rtl"', mixed)
    arabic = results["arabic"].html
    assert '<html lang="ar" dir="rtl"' in arabic
    assert re.search(r'<p dir="ltr"[^>]*>The release notes', arabic)
    assert "direction:rtl" in arabic.replace(" ", "")


def test_preheader_is_hidden_without_colour_and_padded(results):
    html = results["code-and-tables"].html
    match = re.search(r'<div class="nl-preheader" style="([^"]*)">([^<]*)</div>', html)
    assert match
    style, text = match.groups()
    assert "display:none" in style and "color" not in style
    assert text.startswith("How to upgrade")
    assert text.count("\u034f\u200c\u00a0") >= 80  # the inbox preview shows the preheader, then blank space


def test_doctype_and_comments(results):
    html = results["code-and-tables"].html
    assert html.startswith("<!doctype html>")
    comments = re.findall(r"<!--(.*?)-->", html, re.DOTALL)
    assert comments and all(c.startswith(("[if", "<![endif]")) or c.endswith("<![endif]") for c in comments)


def test_minify_keeps_pre_and_inline_spaces_and_outlook_comments():
    html = (
        "<html><head><style>.used { color: red; }  .unused { color: blue; } [data-ogsc] .used { color: #fff; }</style></head>\n"
        "<body>\n  <!-- a note -->\n  <div class=\"used\">\n    <b>bold</b> <i>italic</i>\n  </div>\n"
        "  <!--[if mso]>\n    <table>\n      <tr><td>x</td></tr>\n    </table>\n  <![endif]-->\n"
        "  <pre>  keep\n    this  </pre>\n</body></html>\n"
    )
    out = minify_html(html)
    assert "a note" not in out
    assert "<b>bold</b> <i>italic</i>" in out
    assert "<pre>  keep\n    this  </pre>" in out
    assert "<!--[if mso]>" in out and "<![endif]-->" in out and "<td>x</td>" in out
    assert ".unused" not in out and ".used{color: red;}" in out.replace(" {", "{")
    assert "[data-ogsc] .used" in out  # a client's own prefix is judged without it
    assert len(out) < len(html)
    assert drop_unused_css("<style>@media (max-width: 1px) { .gone { x: y } }</style><p>x</p>") == "<p>x</p>"


def test_the_long_issue_is_less_than_half_its_old_size(tmp_path, settings, monkeypatch):
    long = write_long_issue(tmp_path)
    raw: list[str] = []
    monkeypatch.setattr(pipeline, "minify_html", lambda html: raw.append(html) or minify_html(html))
    result = compose_issue(long, settings)
    assert raw and len(result.html) < 0.9 * len(raw[0])  # minifying alone
    # One card section instead of three per issue section, MJML's reset sheet kept in the head
    # and minifying: this issue was 385 KB of HTML before.
    assert len(result.html.encode()) < 190_000
    assert max(len(line) for line in result.html.splitlines()) <= 998


def test_clipping_says_how_large_and_where_it_falls(tmp_path, settings):
    result = compose_issue(write_long_issue(tmp_path), settings)
    (clipped,) = [f for f in result.findings if f.code == "html-too-large"]
    assert clipped.severity == "warning"
    size = len(result.html.encode()) / 1024
    assert f"HTML is {size:.0f} KB" in clipped.message
    found = re.search(r"readers see up to section (\d+) of 40, 'Working group (\d+):[^']*' \(line (\d+)\)", clipped.message)
    assert found and found.group(1) == found.group(2), clipped.message
    assert 5 < int(found.group(1)) < 40
    assert "unsubscribe link" in clipped.message


def test_send_blockers(tmp_path, settings, write_issue):
    from newsletter.compose.checks import send_blockers

    clipped = compose_issue(write_long_issue(tmp_path), settings)
    blockers = send_blockers(clipped, allow_clipping=False)
    assert [(f.code, f.severity) for f in blockers] == [("html-too-large", "error")]
    assert send_blockers(clipped, allow_clipping=True) == []
    broken = compose_issue(write_issue("[a](/relative)\n", frontmatter="title: T\npreheader: p"), settings)
    assert [f.code for f in send_blockers(broken, allow_clipping=True)] == ["relative-url"]
    assert send_blockers(compose_issue(sample("cjk-emoji"), settings), allow_clipping=False) == []


@pytest.mark.parametrize("subject", ['"Hello\\r\\nBcc: all@example.org"', '"Line\\u2028separator"', '"Para\\u2029graph"', '"Bell\\u0007"', '"Tab\\there"'])
def test_subject_with_control_characters_is_an_error(write_issue, settings, subject):
    result = compose_issue(write_issue("Body.\n", frontmatter=f"title: {subject}\npreheader: p"), settings)
    assert [(f.code, f.severity) for f in result.findings if f.code == "subject-control-character"] == [("subject-control-character", "error")]


def test_subject_with_emoji_and_joiners_is_fine(write_issue, settings):
    result = compose_issue(write_issue("Body.\n", frontmatter='title: "Family news 👨‍👩‍👧 🎉"\npreheader: p'), settings)
    assert result.errors == []


def test_raw_images_with_alt_text_are_not_reported(results):
    missing = [f.message for f in results["raw-html"].findings if f.code == "image-no-alt"]
    assert len(missing) == 1 and "pilot-banner.jpg" in missing[0]


def test_youtu_be_links_are_expanded_and_other_shorteners_reported(write_issue, settings):
    result = compose_issue(write_issue("[talk](https://youtu.be/XsUTVgDAUxA?si=abc&t=42) and [short](https://bit.ly/3xyz)\n"), settings)
    assert "https://www.youtube.com/watch?v=XsUTVgDAUxA&amp;si=abc&amp;t=42&amp;utm_source=" in result.html
    assert "youtu.be" not in result.html
    assert [f.code for f in result.findings if f.code == "url-shortener"] == ["url-shortener"]


def test_bad_dir_in_frontmatter_is_refused(write_issue, settings):
    from newsletter.errors import InputError

    with pytest.raises(InputError, match="dir must be 'ltr' or 'rtl'"):
        compose_issue(write_issue("x\n", frontmatter="title: T\ndir: sideways"), settings)
