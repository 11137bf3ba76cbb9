"""Stage 1: reading issue files, frontmatter and metadata."""

import pytest

from newsletter.compose.source import load_issue, read_slug
from newsletter.errors import InputError


def test_example_issue_metadata(example_issue, settings):
    issue = load_issue(example_issue, settings)
    assert issue.subject == "Inside the Harbour Project: November 2026"
    assert issue.preheader.startswith("Release 4.2 is out")
    assert issue.web_url == "https://harbour.example.org/blog/harbour-newsletter-november-2026"
    assert issue.base_url == "https://harbour.example.org"
    assert issue.categories == ["News & Announcements"]
    assert issue.slug == "2026-11-example"
    assert issue.meta["date"] == "2026-11-24T09:00:00Z"  # YAML datetime kept as ISO text
    assert issue.meta["hidePost"] is True  # unknown keys are kept, never an error


def test_body_line_counts_frontmatter(write_issue, settings):
    path = write_issue("# Hello\n", frontmatter="title: T\nauthor: A")
    assert load_issue(path, settings).body_line == 5


def test_preheader_and_subject_precedence(write_issue, settings):
    path = write_issue("body\n", frontmatter="subject: S\ntitle: T\npreheader: P\ndescription: D\nseo:\n  description: SD")
    issue = load_issue(path, settings)
    assert (issue.subject, issue.preheader) == ("S", "P")
    path = write_issue("body\n", frontmatter="title: T\ndescription: D")
    assert load_issue(path, settings).preheader == "D"


def test_base_url_precedence(write_issue, settings):
    path = write_issue("x\n", frontmatter="title: T\nweb_url: https://web.example.org/a/b")
    assert load_issue(path, settings).base_url == "https://web.example.org"
    assert load_issue(path, settings.with_overrides(newsletter_site_url="https://site.example.org")).base_url == "https://site.example.org"
    path = write_issue("x\n", frontmatter="title: T\nbase_url: https://base.example.org\nweb_url: https://web.example.org/")
    assert load_issue(path, settings.with_overrides(newsletter_site_url="https://site.example.org")).base_url == "https://base.example.org"


def test_tags_and_categories_merge(write_issue, settings):
    path = write_issue("x\n", frontmatter="title: T\ncategory: [{value: a, label: Alpha}]\ntags: [beta, Alpha]")
    assert load_issue(path, settings).categories == ["Alpha", "beta"]


def test_slug_from_frontmatter_is_made_path_safe(write_issue):
    path = write_issue("x\n", frontmatter="title: T\nslug: ../../etc/passwd here")
    assert read_slug(path) == "etc-passwd-here"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "file is empty"),
        (b"   \n\n", "file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "NUL bytes"),
        (b"---\ntitle: caf\xe9\n---\nbody", "not valid UTF-8"),
        (b"---\ntitle: [unclosed\n---\nbody", "malformed YAML"),
        (b"---\ntitle: x\nbody without end", "never closed"),
        (b"---\n- a list\n---\nbody", "must be a mapping"),
    ],
)
def test_bad_files(tmp_path, settings, content, message):
    path = tmp_path / "bad.md"
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        load_issue(path, settings)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_malformed_yaml_names_the_line(tmp_path, settings):
    path = tmp_path / "bad.md"
    path.write_text("---\ntitle: ok\nauthor: fine\nseo: {url: [\n---\nbody\n")
    with pytest.raises(InputError) as caught:
        load_issue(path, settings)
    assert f"{path}:5" in str(caught.value) or f"{path}:6" in str(caught.value)


def test_missing_file(tmp_path, settings):
    with pytest.raises(InputError, match="file not found"):
        load_issue(tmp_path / "nope.md", settings)
