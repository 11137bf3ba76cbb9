"""Writing direction: the first strong character decides, the frontmatter sets the document's."""

from __future__ import annotations

from newsletter.compose.bidi import first_strong, language_direction, mark_line, mixes_directions
from newsletter.compose.source import load_issue


def test_first_strong_character_decides():
    assert first_strong("2026: مرحبا Python") == "rtl"
    assert first_strong("«Python» مرحبا") == "ltr"
    assert first_strong("שלום") == "rtl"
    assert first_strong("123 — !") == ""


def test_language_direction():
    assert [language_direction(tag) for tag in ("ar", "he-IL", "fa_IR", "ur", "en", "zh-Hans", "")] == ["rtl", "rtl", "rtl", "rtl", "ltr", "ltr", "ltr"]


def test_marks_only_on_mixed_lines():
    assert mixes_directions("Python و PostgreSQL") and not mixes_directions("مرحبا بكم") and not mixes_directions("plain")
    assert mark_line("Python و PostgreSQL", "rtl") == "\u200fPython و PostgreSQL"
    assert mark_line("مرحبا بكم", "rtl") == "مرحبا بكم"


def test_document_direction_from_frontmatter(write_issue, settings):
    assert load_issue(write_issue("x\n", frontmatter="title: T\nlang: ar"), settings).dir == "rtl"
    assert load_issue(write_issue("x\n", frontmatter="title: T\nlang: ar\ndir: ltr"), settings).dir == "ltr"
    issue = load_issue(write_issue("x\n", frontmatter="title: T"), settings)
    assert (issue.lang, issue.dir) == ("en", "ltr")
