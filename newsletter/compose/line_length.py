"""Keep every output line within RFC 5322's 998-character limit."""

from __future__ import annotations

import re

from newsletter.compose.minify import is_block_tag

MAX_LINE = 998
_TAG_OR_TEXT = re.compile(r"<[^>]*>|[^<]+")


def wrap_long_lines(html: str, limit: int = MAX_LINE) -> str:
    """Break lines longer than ``limit`` at places where a newline changes nothing.

    A line is only broken right after a space, in text or between a tag's
    attributes (outside quotes): there a newline is whitespace like the
    space itself, so the rendering does not change. Between two tags it is
    broken only when one of them is a block or table tag: between inline
    elements a newline could add a visible space.
    """
    return "\n".join(_wrap_line(line, limit) if len(line) > limit else line for line in html.split("\n"))


def _wrap_line(line: str, limit: int) -> str:
    pieces: list[tuple[str, bool]] = []  # (piece, a line may break before it)
    previous_block = False
    for token in _TAG_OR_TEXT.findall(line):
        if token.startswith("<"):
            block = is_block_tag(token)
            parts = _split_tag(token)
            pieces.append((parts[0], block or previous_block))
            pieces.extend((part, False) for part in parts[1:])
            previous_block = block
        else:
            pieces.extend((part, False) for part in re.split(r"(?<= )", token) if part)
            previous_block = False
    out, current = [], ""
    for piece, breakable in pieces:
        if current and (breakable or current.endswith(" ")) and len(current) + len(piece) > limit:
            out.append(current)
            current = ""
        current += piece
    out.append(current)
    return "\n".join(out)


def _split_tag(tag: str) -> list[str]:
    """Split a tag after spaces that are outside attribute quotes."""
    parts, start, quote = [], 0, ""
    for index, char in enumerate(tag):
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == " ":
            parts.append(tag[start : index + 1])
            start = index + 1
    parts.append(tag[start:])
    return parts
