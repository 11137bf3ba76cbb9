"""The plain-text part of the inbox samples: nothing the HTML sanitiser removed, display
widths for CJK, direction marks where a line mixes directions, the "-- " separator."""

from __future__ import annotations

import re

import pytest

from newsletter.compose import compose_issue
from newsletter.compose.bidi import MARKS, mixes_directions
from newsletter.compose.wrapping import display_width, wrap
from tests.compose.sample_issues import SAMPLE_NAMES, sample

WIDTH = 76
_EXEMPT = re.compile(r"^\[\d+\] |^ {4}|^View in browser: |^Unsubscribe: ")  # reference list, code, URLs


def _prose_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not _EXEMPT.match(line)]


@pytest.fixture(scope="module")
def texts():
    from newsletter.settings import load_settings

    settings = load_settings({}, env_file="/dev/null")
    return {name: compose_issue(sample(name), settings).text for name in SAMPLE_NAMES}


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_prose_line_fits_76_display_columns(texts, name):
    for line in _prose_lines(texts[name]):
        words = line.split()
        if len(words) == 1 and display_width(words[0]) > WIDTH:
            continue  # a single word longer than the line (a URL) is never broken
        assert display_width(line) <= WIDTH, (display_width(line), line)


def test_chinese_paragraph_wraps_by_display_width(texts):
    text = texts["cjk-emoji"]
    lines = [line for line in text.splitlines() if "我们很高兴" in line or "的志愿者们" in line]
    assert lines, text
    paragraph = text[text.index("我们很高兴") : text.index("组织了多场测试活动。") + 10].splitlines()
    assert len(paragraph) >= 4  # 141 characters = 282 columns: four lines, not one
    assert all(70 <= display_width(line) <= WIDTH for line in paragraph[:-1]), [display_width(line) for line in paragraph]
    assert not any(line.startswith(("，", "。", "、")) for line in text.splitlines())  # no line starts with closing punctuation


def test_heading_underlines_match_the_displayed_width(texts):
    lines = texts["cjk-emoji"].splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("新版本发布"))
    assert lines[index + 1] == "=" * display_width(lines[index])
    assert display_width(lines[index]) > len(lines[index])  # wide characters counted twice


def test_table_columns_line_up_by_display_width(texts):
    rows = [line for line in texts["cjk-emoji"].splitlines() if " | " in line]
    assert len(rows) == 3

    def bars(row: str) -> tuple[int, ...]:  # screen columns of the separators
        return tuple(display_width(row[:i]) for i, char in enumerate(row) if char == "|")

    assert len({bars(row) for row in rows}) == 1, rows


def test_raw_html_leaks_nothing_the_html_lost(texts):
    text = texts["raw-html"]
    for leaked in ("alert(", "hacked", "console.log", "inline secret", "background: red", "Your email address", "Sign me up", "track("):
        assert leaked not in text, leaked
    assert "[Partner logo]" in text and "[Pilot badge]" in text  # raw images give their alt text
    assert "Join the pilot [1]" in text  # raw links get references like Markdown ones
    assert "[1] https://partner.example.net/pilot?utm_source=" in text
    assert "with text after it" in text


def test_mixed_direction_lines_get_a_mark_and_others_none(texts):
    text = texts["mixed-directions"]
    marked = [line for line in text.splitlines() if line[:1] in MARKS.values()]
    assert marked, text
    for line in text.splitlines():
        if mixes_directions(line):
            assert line[0] in MARKS.values(), line
        else:
            assert line[:1] not in MARKS.values(), line
    python_line = next(line for line in marked if "Python" in line)
    assert python_line.startswith(MARKS["rtl"])  # an Arabic paragraph with English words reads right to left
    assert "\u200f" not in texts["code-and-tables"] and "\u200e" not in texts["code-and-tables"]


def test_signature_separator_has_its_space(texts):
    for text in texts.values():
        assert "\n-- \n" in text


def test_wrap_rules():
    assert wrap("aaa bbb ccc", 7) == ["aaa bbb", "ccc"]
    assert wrap("https://example.org/a/very/long/path ok", 10) == ["https://example.org/a/very/long/path", "ok"]
    assert wrap("one\u00a0two three", 8) == ["one\u00a0two", "three"]  # a no-break space does not break
    assert wrap("中文中文中文", 4) == ["中文", "中文", "中文"]
    assert wrap("中文。中文", 4) == ["中", "文。", "中文"]  # "。" stays with the character before it
    assert wrap("🎉🎉🎉", 4) == ["🎉🎉", "🎉"]
    assert wrap("x", 10, "* ", "  ") == ["* x"]
    assert wrap("   ", 10, "> ", "> ") == [">"]
