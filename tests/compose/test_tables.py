"""Markdown tables: header cells that say what they head, and the table-too-wide check for phones."""

from __future__ import annotations

import re
from pathlib import Path

from newsletter.compose import compose_issue
from newsletter.compose.tables import PHONE_TEXT_WIDTH, table_min_width, wide_table

SAMPLES = Path(__file__).resolve().parent / "samples"
PROGRAMME = """
| Session | Speaker | Room | Time |
|---------|---------|------|------|
| Opening keynote: the state of the harbour | Amara Okafor | Main hall | 09:00–09:45 |
| Building resilient pipelines | [Jonas Lindqvist](https://news.harbour.test/jonas) | Room B | 10:00–10:30 |
"""


def test_header_cells_have_a_scope(write_issue, settings):
    html = compose_issue(write_issue(PROGRAMME), settings).html
    headers = re.findall(r"<th\b[^>]*>", html)
    assert len(headers) == 4 and all('scope="col"' in th for th in headers)


def test_a_table_that_fits_a_phone_is_left_alone(write_issue, settings):
    result = compose_issue(write_issue(PROGRAMME), settings)
    assert "table-too-wide" not in {f.code for f in result.findings}
    assert "nl-table-wide" not in result.html  # its words stay whole (the link's URL is no word of the cell)


def test_a_table_too_wide_for_a_phone_is_flagged_and_squeezed(settings):
    result = compose_issue(SAMPLES / "code-and-tables.md", settings)
    (finding,) = [f for f in result.findings if f.code == "table-too-wide"]
    assert finding.severity == "warning" and finding.where == f"{SAMPLES / 'code-and-tables.md'}:45"
    assert "a table of 7 columns is too wide for a 320 px phone" in finding.message
    assert 'class="nl-table nl-table-wide"' in result.html


def test_width_estimate():
    assert table_min_width([["Architecture"]]) == round(12 * 7.2 + 13)  # one word: all of it on a line
    assert table_min_width([["a b"], ["well-known"]]) == round(5 * 7.2 + 13)  # breaks after the hyphen
    assert table_min_width([["東京都の天気予報"]]) == round(2 * 7.2 + 13)  # CJK breaks between characters
    assert not wide_table([["x"] * 4]) and wide_table([["Architecture"] * 4])
    assert PHONE_TEXT_WIDTH == 264
