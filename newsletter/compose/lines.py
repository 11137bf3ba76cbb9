"""Keep every output line within RFC 5322's 998-character limit."""

from __future__ import annotations

import re

MAX_LINE = 998
_TAG_OR_TEXT = re.compile(r"<[^>]*>|[^<]+")


def wrap_long_lines(html: str, limit: int = MAX_LINE) -> str:
    """Break lines longer than ``limit`` at places where a newline changes nothing.

    A line is only broken right after a space, in text or between a tag's
    attributes (outside quotes): there a newline is whitespace like the
    space itself, so the rendering does not change. Breaking between two
    tags could add a visible space between inline elements, so it never does.
    """
    return "\n".join(_wrap_line(line, limit) if len(line) > limit else line for line in html.split("\n"))


def _wrap_line(line: str, limit: int) -> str:
    pieces: list[str] = []
    for token in _TAG_OR_TEXT.findall(line):
        if token.startswith("<"):
            pieces.extend(_split_tag(token))
        else:
            pieces.extend(re.split(r"(?<= )", token))
    out, current = [], ""
    for piece in pieces:
        if current.endswith(" ") and len(current) + len(piece) > limit:
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
