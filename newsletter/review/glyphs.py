"""Characters no installed font can draw: Chromium shows them as empty boxes.

Without CJK and emoji fonts (Debian: ``fonts-noto-cjk``, ``fonts-noto-color-emoji``)
a screenshot of a Chinese or emoji-laden issue is a row of boxes that says
nothing about the email. Which characters the fonts cover comes from
fontconfig (``fc-list``), which is what Chromium on Linux asks too.
"""

from __future__ import annotations

import bisect
import shutil
import subprocess
import unicodedata
from functools import lru_cache
from typing import TYPE_CHECKING, cast

from newsletter.compose.model import WARNING, Finding

if TYPE_CHECKING:
    from lxml.html import HtmlElement

FONT_HINT = "install fonts that have them (Debian: apt-get install fonts-noto-cjk fonts-noto-color-emoji)"
#: Characters that are never drawn themselves (joiners, variation selectors …).
_INVISIBLE = frozenset("\u034f\u180e\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff")


@lru_cache(maxsize=1)
def font_coverage() -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """Sorted, merged ``(starts, ends)`` of the code points the installed fonts cover;
    ``None`` when fontconfig's ``fc-list`` is not there to ask."""
    program = shutil.which("fc-list")
    if not program:
        return None
    try:
        output = subprocess.run([program, "--format", "%{charset}\n"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    ranges: list[tuple[int, int]] = []
    for token in output.split():
        low, _, high = token.partition("-")
        try:
            ranges.append((int(low, 16), int(high or low, 16)))
        except ValueError:
            continue
    ranges.sort()
    starts: list[int] = []
    ends: list[int] = []
    for first, last in ranges:
        if ends and first <= ends[-1] + 1:
            ends[-1] = max(ends[-1], last)
        else:
            starts.append(first)
            ends.append(last)
    return tuple(starts), tuple(ends)


def _drawable(char: str) -> bool:
    """False for characters that need no glyph: spaces, controls, joiners, selectors."""
    if char.isspace() or char in _INVISIBLE:
        return False
    code = ord(char)
    if 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF or 0xE0020 <= code <= 0xE007F:
        return False  # variation selectors and emoji tag characters
    return unicodedata.category(char) not in ("Cc", "Cf", "Zl", "Zp")


def missing_glyphs(text: str, coverage: tuple[tuple[int, ...], tuple[int, ...]] | None = None) -> list[str]:
    """The distinct characters of ``text`` that no installed font has, in order of appearance."""
    coverage = coverage or font_coverage()
    if coverage is None:
        return []
    starts, ends = coverage
    missing: dict[str, None] = {}
    for char in dict.fromkeys(text):
        if not _drawable(char):
            continue
        index = bisect.bisect_right(starts, ord(char)) - 1
        if index < 0 or ord(char) > ends[index]:
            missing.setdefault(char, None)
    return list(missing)


def visible_text(html: str) -> str:
    """The text of an email's body and its images' alt texts (what a screenshot draws)."""
    from lxml import html as lxml_html

    document = lxml_html.fromstring(html)
    body = document.find("body") if document.tag != "body" else document
    root = cast("HtmlElement", body if body is not None else document)  # lxml.html's parser makes HtmlElements
    alts = " ".join(image.get("alt", "") for image in root.iter("img"))
    return root.text_content() + " " + alts


def glyph_findings(html: str, where: str) -> list[Finding]:
    """A ``missing-glyph`` warning when some characters of ``html`` have no font to draw them."""
    missing = missing_glyphs(visible_text(html))
    if not missing:
        return []
    shown = ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, 'unnamed')}" for c in missing[:8])
    more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
    return [Finding("missing-glyph", WARNING, f"no installed font can draw {shown}{more}: the screenshots show boxes; {FONT_HINT}", where)]
