"""The ``table-too-wide`` check: a Markdown table whose words cannot fit a 320 px phone.

On a phone the default layout gives tables tighter cells and smaller type, and
wraps them at spaces. A table whose longest words still need more than the
text column gets the class ``nl-table-wide`` (``wide_table``), under which
the layout lets words break wherever they must, so no column is ever cut off –
but then they break mid-word ("Archi/tec/ture"), and this check warns first.
Widths are estimated from the characters (an average glyph of the phone's
13 px type), which is close enough to tell three columns from seven; the class
is given a little before the estimate reaches the column, to be safe.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from newsletter.compose.model import WARNING, Finding
from newsletter.compose.wrapping import display_width

if TYPE_CHECKING:
    from markdown_it.tree import SyntaxTreeNode

    from newsletter.compose.model import Issue

#: The smallest phone screen in common use, and the default layout's text column on it (28 px margins).
PHONE_WIDTH = 320
PHONE_TEXT_WIDTH = PHONE_WIDTH - 2 * 28
#: The phone's table type: about 7.2 px per column of a fixed-width count, plus each cell's padding and border.
GLYPH_PX = 7.2
CELL_EXTRA_PX = 2 * 6 + 1
#: The share of the column from which a table is squeezed (its words may break): a margin for estimates a little low
#: (measured in Chromium, they run 1-3 % high: 254 px for a table that needs 247).
SQUEEZE_FROM = 0.97
#: Where a line may break inside a cell without breaking a word: spaces, and after a hyphen, dash or slash.
_UNBREAKABLE = re.compile(r"[^\s\-\u2010-\u2015/]+[\-\u2010-\u2015/]?")


def _longest_piece(text: str) -> int:
    """Display columns of the longest piece of ``text`` a browser would not break (wide CJK breaks anywhere)."""
    widest = 0
    for piece in _UNBREAKABLE.findall(text):
        width = display_width(piece)
        if width > len(piece):  # wide characters: lines break between any two of them
            width = 2
        widest = max(widest, width)
    return widest


def table_min_width(rows: list[list[str]]) -> int:
    """Pixels a table needs on a phone without breaking a word: per column, its longest word and the cell's padding."""
    columns: dict[int, int] = {}
    for row in rows:
        for index, cell in enumerate(row):
            columns[index] = max(columns.get(index, 0), _longest_piece(cell))
    return round(sum(chars * GLYPH_PX + CELL_EXTRA_PX for chars in columns.values()))


def wide_table(rows: list[list[str]]) -> bool:
    """Whether a table of these cell texts needs its words broken to fit a 320 px phone (or nearly)."""
    return table_min_width(rows) > PHONE_TEXT_WIDTH * SQUEEZE_FROM


def _cell_text(cell: SyntaxTreeNode) -> str:
    """The words of a table cell as a reader sees them (no link targets, no markup)."""
    return "".join(node.content for node in cell.walk() if node.type in ("text", "code_inline"))


def check_tables(issue: Issue, nodes: Iterable[SyntaxTreeNode]) -> list[Finding]:
    """A ``table-too-wide`` warning for each Markdown table among ``nodes`` (the body's blocks) whose words
    break on a 320 px phone (``wide_table``)."""
    findings: list[Finding] = []
    for top in nodes:
        for node in top.walk():
            if node.type != "table":
                continue
            rows = [[_cell_text(cell) for cell in row.children] for row in node.walk() if row.type == "tr"]
            if not wide_table(rows):
                continue
            needed = table_min_width(rows)
            line = issue.body_line + (node.map[0] if node.map else 0)
            columns = max((len(row) for row in rows), default=0)
            findings.append(Finding(
                "table-too-wide", WARNING,
                f"a table of {columns} columns is too wide for a {PHONE_WIDTH} px phone: its longest words need "
                f"about {needed} px of {PHONE_TEXT_WIDTH}, so they may break mid-word there; fewer columns, "
                "shorter words or a list read better",
                f"{issue.path}:{line}",
            ))
    return findings
