"""The whole pipeline: HTML properties, determinism, output files, layouts."""

import json
import re

import pytest

from newsletter.compose import compose_issue, write_output
from newsletter.errors import InputError, LayoutError


@pytest.fixture
def example(example_issue, settings):
    return compose_issue(example_issue, settings)


def test_every_source_link_in_html_with_utm(example):
    for link in example.links:
        escaped = link.url.replace("&", "&amp;")
        assert f'href="{escaped}"' in example.html or f'src="{escaped}"' in example.html, link
    web = [link for link in example.links if link.kind == "link" and link.url.startswith("https://")]
    assert web and all("utm_medium=email" in link.url for link in web)


def test_hero_absolute_and_preheader_hidden_first(example):
    assert 'src="https://harbour.example.org/img/harbour-summit-2026.jpg"' in example.html
    body = example.html.split("<body", 1)[1]
    first_text = re.search(r"<div([^>]*)>\s*([^<\s][^<]*)", body)  # the first text in the body: what inboxes preview
    assert "display:none" in first_text.group(1) and first_text.group(2).startswith("Release 4.2 is out")
    assert "color" not in first_text.group(1)  # hidden by display and size, never by a text colour


def test_cta_is_a_bulletproof_button(example):
    # MJML buttons are a table cell with bgcolor (Outlook) around a styled link.
    match = re.search(r'<td[^>]*bgcolor="#0b5cad"[^>]*>\s*<a href="([^"]+)"[^>]*>\s*WATCH THE VIDEOS &gt;&gt;', example.html)
    assert match and match.group(1).startswith("https://video.example.net/c/harbour?utm_source=newsletter")


def test_media_queries_and_dark_mode_survive_inlining(example):
    assert '<meta name="color-scheme" content="light dark">' in example.html or 'name="color-scheme"' in example.html
    assert "@media (prefers-color-scheme: dark)" in example.html
    assert "!important" in example.html.split("prefers-color-scheme: dark", 1)[1][:400]
    assert "@media only screen and (min-width: 480px)" in example.html
    assert "style=" in example.html and "color:#1f2328" in example.html.replace(" ", "")  # styles inlined


def test_no_network_resources(example):
    assert "fonts.googleapis" not in example.html
    assert "<link" not in example.html
    assert not re.search(r"@import", example.html)


def test_line_length_limit(example):
    assert max(len(line) for line in example.html.splitlines()) <= 998
    assert max(len(line) for line in example.text.splitlines()) <= 998


def test_same_input_same_bytes(example_issue, settings, tmp_path):
    first = write_output(compose_issue(example_issue, settings), tmp_path / "a")
    second = write_output(compose_issue(example_issue, settings), tmp_path / "b")
    for name in ("email.html", "email.txt", "meta.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_meta_json(example, tmp_path):
    meta = json.loads((write_output(example, tmp_path) / "meta.json").read_text())
    assert meta["subject"] == example.issue.subject
    assert meta["html_sha256"] == example.html_sha256
    assert meta["bytes"]["html"] == len(example.html.encode())
    assert meta["categories"] == ["News & Announcements"]
    assert "mailto:events@harbour.example.org" in meta["links"]
    assert meta["from"] and meta["errors"] == [] and isinstance(meta["warnings"], list)


def test_web_fonts_only_when_asked(write_issue, settings, tmp_path):
    layout = tmp_path / "layouts" / "fonty"
    layout.mkdir(parents=True)
    (layout / "email.mjml.j2").write_text(
        '<mjml><mj-body><mj-section><mj-column><mj-text font-family="Open Sans, sans-serif">{{ issue.subject }}'
        ' <a href="{{ recipient.unsubscribe_url }}">u</a></mj-text></mj-column></mj-section></mj-body></mjml>'
    )
    path = write_issue("hello\n", frontmatter="title: T\npreheader: p\nlayout: fonty")
    config = settings.with_overrides(newsletter_layouts=str(tmp_path / "layouts"))
    assert "fonts.googleapis" not in compose_issue(path, config).html
    assert "fonts.googleapis" in compose_issue(path, config.with_overrides(newsletter_web_fonts=True)).html


def test_broken_custom_layout_names_file_and_complaint(write_issue, settings, tmp_path):
    layout = tmp_path / "layouts" / "broken"
    layout.mkdir(parents=True)
    (layout / "email.mjml.j2").write_text("<mjml><mj-head></mj-head></mjml>")  # no mj-body
    path = write_issue("hello\n", frontmatter="title: T\nlayout: broken")
    with pytest.raises(LayoutError) as caught:
        compose_issue(path, settings.with_overrides(newsletter_layouts=str(tmp_path / "layouts")))
    assert "email.mjml.j2" in str(caught.value) and "mj-body" in str(caught.value)


def test_layout_template_syntax_error_names_line(write_issue, settings, tmp_path):
    layout = tmp_path / "layouts" / "typo"
    layout.mkdir(parents=True)
    (layout / "email.mjml.j2").write_text("<mjml>\n<mj-body>\n{{ issue.subject }\n</mj-body></mjml>")
    path = write_issue("hello\n", frontmatter="title: T\nlayout: typo")
    with pytest.raises(LayoutError, match=r"email.mjml.j2:3"):
        compose_issue(path, settings.with_overrides(newsletter_layouts=str(tmp_path / "layouts")))


def test_unknown_layout(write_issue, settings):
    path = write_issue("hello\n", frontmatter="title: T\nlayout: nope")
    with pytest.raises(InputError, match="layout 'nope' not found"):
        compose_issue(path, settings)


def test_no_subject(write_issue, settings):
    path = write_issue("Just a paragraph.\n\n## Not an H1\n", frontmatter="preheader: p")
    with pytest.raises(InputError, match="no subject found"):
        compose_issue(path, settings)


def test_subject_is_escaped_in_html(write_issue, settings):
    path = write_issue("x\n", frontmatter='title: "Tom & <Jerry>"\npreheader: p')
    html = compose_issue(path, settings).html
    assert "Tom &amp; &lt;Jerry&gt;" in html and "<Jerry>" not in html
