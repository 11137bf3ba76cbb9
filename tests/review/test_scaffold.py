"""``newsletter new``: file name, frontmatter, skeleton, no overwrite, clear errors."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.compose import compose_issue
from newsletter.errors import InputError
from newsletter.review.new_issue import new_issue, slugify


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("November news", "november-news"),
        ("Café & Crème: Grüße aus Köln!", "cafe-and-creme-grusse-aus-koln"),
        ("  Straße  --  2026 ", "strasse-2026"),
        ("Ørsted, Łódź & Æsir", "orsted-lodz-and-aesir"),
        ("!!!", ""),
        ("日本語", ""),
    ],
)
def test_slugify(title, slug):
    assert slugify(title) == slug


def test_slugify_cuts_long_titles_at_a_hyphen():
    slug = slugify("word " * 40)
    assert len(slug) <= 60
    assert not slug.endswith("-")
    assert slug.startswith("word-word")


def test_new_issue_writes_frontmatter_and_skeleton(tmp_path):
    path = new_issue('Autumn: "Big" news', "2026-11-02", tmp_path / "issues")
    assert path == tmp_path / "issues" / "2026-11-02-autumn-big-news.md"
    text = path.read_text(encoding="utf-8")
    _, head, body = text.split("---\n", 2)
    meta = yaml.safe_load(head)
    assert meta["templateKey"] == "blog-post"
    assert meta["title"] == 'Autumn: "Big" news'
    assert str(meta["date"]).startswith("2026-11-02")
    assert meta["category"] == [{"value": "newsletter", "label": "Newsletter"}]
    assert meta["hidePost"] is False
    assert set(meta["seo"]) == {"url", "title", "description", "twitterUsername"}
    assert meta["seo"]["title"] == meta["title"]
    assert "subject:" in head and "preheader:" in head  # documented as comments
    assert body.lstrip().startswith("![")  # hero image with alt text
    assert body.count("\n# ") == 2
    assert "\n- [" in body
    assert "**[READ MORE >>](" in body


def test_new_issue_uses_site_url_for_links(tmp_path):
    path = new_issue("Hello", "2026-01-05", tmp_path, site_url="https://news.example.net/")
    text = path.read_text(encoding="utf-8")
    assert "https://news.example.net/blog/hello/" in text
    assert "example.org" not in text


def test_new_issue_defaults_to_today(tmp_path):
    path = new_issue("Today", None, tmp_path)
    assert path.name == f"{dt.date.today().isoformat()}-today.md"


def test_skeleton_composes_without_errors(tmp_path, settings):
    path = new_issue("Café & Crème: November news!", "2026-11-02", tmp_path)
    result = compose_issue(path, settings)
    assert result.errors == []
    assert result.issue.subject == "Café & Crème: November news!"
    assert result.issue.preheader
    assert "READ MORE" in result.html
    assert "First section" in result.text


def test_new_issue_refuses_to_overwrite(tmp_path):
    path = new_issue("Twice", "2026-11-02", tmp_path)
    path.write_text("my precious draft", encoding="utf-8")
    with pytest.raises(InputError, match="already exists"):
        new_issue("Twice", "2026-11-02", tmp_path)
    assert path.read_text(encoding="utf-8") == "my precious draft"


@pytest.mark.parametrize("bad", ["2026-13-01", "02/11/2026", "tomorrow", "2026-02-30"])
def test_new_issue_rejects_bad_dates(tmp_path, bad):
    with pytest.raises(InputError, match="--date"):
        new_issue("Dated", bad, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("title", ["", "   ", "???"])
def test_new_issue_rejects_titles_without_letters(tmp_path, title):
    with pytest.raises(InputError, match="TITLE"):
        new_issue(title, "2026-11-02", tmp_path)


def test_cli_new_writes_and_refuses_to_overwrite(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    first = runner.invoke(app, ["new", "Winter issue", "--date", "2026-12-01"])
    assert first.exit_code == 0, first.output
    written = tmp_path / "issues" / "2026-12-01-winter-issue.md"
    assert written.is_file()
    assert str(written.relative_to(tmp_path)) in first.stdout
    before = written.read_bytes()

    again = runner.invoke(app, ["new", "Winter issue", "--date", "2026-12-01"])
    assert again.exit_code == 2
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "already exists" in lines[0]
    assert "Traceback" not in again.output
    assert written.read_bytes() == before


def test_cli_new_bad_date_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["new", "Winter issue", "--date", "1 Dec"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--date" in lines[0] and "YYYY-MM-DD" in lines[0]
    assert not (tmp_path / "issues").exists() or list((tmp_path / "issues").iterdir()) == []
