"""Characters no installed font can draw are reported, so boxes in screenshots are explained."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.review.glyphs import font_coverage, glyph_findings, missing_glyphs

COVERAGE = ((0x20, 0x4E00), (0x7E, 0x9FFF))  # ASCII and the CJK block, nothing else


def test_missing_glyphs_against_a_known_coverage():
    text = "Hi 中文 \U0010fffd and \U0010fffd again, 👍\u200d\ufe0f\u00a0"
    assert missing_glyphs(text, COVERAGE) == ["\U0010fffd", "👍"]  # joiners, selectors and spaces need no glyph
    assert missing_glyphs("plain text", COVERAGE) == []


@pytest.mark.skipif(font_coverage() is None, reason="fontconfig's fc-list is not installed")
def test_glyph_findings_name_the_characters_and_the_fonts_to_install():
    (finding,) = glyph_findings("<html><body><p>Private \U0010fffd use</p></body></html>", "issue.md")
    assert finding.code == "missing-glyph" and "U+10FFFD" in finding.message and "fonts-noto-cjk" in finding.message
    assert glyph_findings("<html><body><p>Plain ASCII</p></body></html>", "issue.md") == []


@pytest.mark.browser
def test_cli_screenshot_warns_about_boxes(needs_chromium, write_issue, tmp_path, monkeypatch):
    if font_coverage() is None:
        pytest.skip("fontconfig's fc-list is not installed")
    monkeypatch.chdir(tmp_path)
    issue = write_issue("# Hi\n\nA private character \U0010fffd here.\n")
    result = CliRunner().invoke(app, ["screenshot", str(issue)])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 4
    assert "[missing-glyph]" in result.stderr and "U+10FFFD" in result.stderr
