"""Wrap plain text by display width, so CJK and emoji lines fit the column too.

A Chinese character takes two columns of a fixed-width font, a combining
accent none; ``len()`` counts neither right. Widths come from ``wcwidth``.
Lines break at spaces, and between two characters where either is wide
(CJK has no spaces), except before closing and after opening punctuation
(no line starts with "。" or ends with "「"). Words longer than the line,
such as URLs, are never broken.
"""

from __future__ import annotations

from functools import lru_cache

#: Characters that never start a line (closing punctuation, small kana, …).
_NO_LINE_START = frozenset(
    ",.;:!?)]}%'\"»›’”、。，．・：；？！）」』】〕〉》〗〙〛｝］｠ーぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ…‥々〻゛゜ゝゞヽヾ"
)
#: Characters that never end a line (opening punctuation).
_NO_LINE_END = frozenset("([{«‹‘“（「『【〔〈《〖〘〚｛［｟")
_SPACES = frozenset(" \t\n\r\f\v")


@lru_cache(maxsize=4096)
def _grapheme_width(grapheme: str) -> int:
    from wcwidth import width

    return max(0, width(grapheme))


def display_width(text: str) -> int:
    """Columns ``text`` takes in a fixed-width font (wide characters count 2)."""
    if text.isascii():
        return len(text)
    from wcwidth import iter_graphemes

    return sum(_grapheme_width(g) for g in iter_graphemes(text))


def ljust(text: str, width: int) -> str:
    """``text`` padded with spaces to ``width`` display columns."""
    return text + " " * max(0, width - display_width(text))


def _graphemes(text: str) -> list[str]:
    if text.isascii():
        return list(text)
    from wcwidth import iter_graphemes

    return list(iter_graphemes(text))


def _words(text: str) -> list[tuple[str, bool]]:
    """``(word, space_before)`` pairs: the pieces a line may not be broken inside."""
    words: list[tuple[str, bool]] = []
    current, space_before, previous = "", False, ""
    for grapheme in _graphemes(text):
        if grapheme in _SPACES:
            if current:
                words.append((current, space_before))
                current = ""
            space_before, previous = True, ""
            continue
        if current and previous and _can_break_between(previous, grapheme):
            words.append((current, space_before))
            current, space_before = "", False
        current += grapheme
        previous = grapheme
    if current:
        words.append((current, space_before))
    return words


def _can_break_between(before: str, after: str) -> bool:
    if after[0] in _NO_LINE_START or before[-1] in _NO_LINE_END:
        return False
    return _grapheme_width(before) == 2 or _grapheme_width(after) == 2


def wrap(text: str, width: int, first: str = "", rest: str = "") -> list[str]:
    """``text`` as lines of at most ``width`` display columns (longer words stay whole).

    ``first`` and ``rest`` are the indents of the first and following lines.
    Runs of whitespace become one space; a text of only whitespace gives
    the bare indent.
    """
    lines: list[str] = []
    line, used, has_words = first, display_width(first), False
    for word, space_before in _words(text):
        word_width = display_width(word)
        gap = 1 if space_before and has_words else 0
        if has_words and used + gap + word_width > width:
            lines.append(line)
            line, used, gap = rest, display_width(rest), 0
        line += " " * gap + word
        used += gap + word_width
        has_words = True
    lines.append(line if has_words else line.rstrip())
    return lines
