"""Read a JSON array one element at a time, with the line each element starts on.

A saved SendGrid event file is one JSON array that can hold millions of
events; loading it whole takes gigabytes. ``iter_json_array`` reads the text
in blocks and decodes one element at a time with the standard library's own
decoder (``json.JSONDecoder.raw_decode``, the C scanner ``json.loads`` uses),
so memory stays at one block plus one element, and a syntax error is reported
with its line like any other bad input. (Streaming parsers such as ijson are
no faster here and cannot say on which line an element or an error is.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, TextIO

from newsletter.errors import InputError

BLOCK_CHARS = 1 << 20
#: An element longer than this is refused (the webhook refuses bodies over 5 MB).
MAX_ELEMENT_CHARS = 5 << 20
_DECODER = json.JSONDecoder()
_NOT_BLANK = re.compile(r"[^ \t\r\n]")
_COMMA = re.compile(r"[ \t\r\n]*,[ \t\r\n]*")


class _Buffer:
    """Text read so far that is not consumed yet, and the line number of its first character."""

    def __init__(self, handle: TextIO) -> None:
        self.handle = handle
        self.text = ""
        self.pos = 0
        self.line = 1  # line number of text[pos]
        self.eof = False

    def more(self) -> bool:
        """Read another block (dropping what is consumed); False at the end of the file."""
        if self.eof:
            return False
        block = self.handle.read(BLOCK_CHARS)
        self.text = self.text[self.pos :] + block
        self.pos = 0
        self.eof = not block
        return bool(block)

    def advance(self, to: int) -> None:
        self.line += self.text.count("\n", self.pos, to)
        self.pos = to

    def next_char(self) -> str:
        """The next character that is not a blank ('' at the end of the file), not consumed."""
        while True:
            found = _NOT_BLANK.search(self.text, self.pos)
            if found is not None:
                self.advance(found.start())
                return self.text[self.pos]
            self.advance(len(self.text))
            if not self.more():
                return ""


def iter_json_array(handle: TextIO, *, subject: str) -> Iterator[tuple[int, Any]]:
    """``(line, element)`` for each element of the JSON array in ``handle``.

    ``InputError`` naming ``subject:line`` if the text is not one JSON array.
    """
    buffer = _Buffer(handle)
    if buffer.next_char() != "[":
        raise InputError("expected a JSON array of events", subject=f"{subject}:{buffer.line}")
    buffer.advance(buffer.pos + 1)
    if buffer.next_char() == "]":
        buffer.advance(buffer.pos + 1)
    else:
        at_element = False  # True when the last comma was consumed with the blanks after it
        while True:
            if not at_element and buffer.next_char() == "":
                raise InputError("not valid JSON (the array is not closed)", subject=f"{subject}:{buffer.line}")
            line = buffer.line
            value, end = _decode(buffer, subject)
            yield line, value
            # Most elements are followed by a comma and the next element in the same block: one match.
            comma = _COMMA.match(buffer.text, end)
            comma_end = comma.end() if comma is not None else len(buffer.text)
            at_element = comma_end < len(buffer.text)
            if at_element:
                buffer.advance(comma_end)
                continue
            buffer.advance(end)
            separator = buffer.next_char()
            buffer.advance(buffer.pos + 1)
            if separator == "]":
                break
            if separator == "":
                raise InputError("not valid JSON (the array is not closed)", subject=f"{subject}:{buffer.line}")
            if separator != ",":
                raise InputError("not valid JSON (expected ',' or ']' after an element)", subject=f"{subject}:{buffer.line}")
    if buffer.next_char() != "":
        raise InputError("not valid JSON (text after the array)", subject=f"{subject}:{buffer.line}")


def _decode(buffer: _Buffer, subject: str) -> tuple[Any, int]:
    """Decode the element at ``buffer.pos``, reading more text while it may be cut off by the block's end."""
    while True:
        try:
            value, end = _DECODER.raw_decode(buffer.text, buffer.pos)
        except json.JSONDecodeError as exc:
            # An element cut off by the block's end fails at the end of the text, except an unterminated
            # string, which fails where it starts; a real error elsewhere is reported at once.
            may_be_cut = len(buffer.text) - exc.pos < 64 or exc.msg.startswith("Unterminated string")
            if may_be_cut and len(buffer.text) - buffer.pos < MAX_ELEMENT_CHARS and buffer.more():
                continue
            line = buffer.line + buffer.text.count("\n", buffer.pos, exc.pos)
            raise InputError(f"not valid JSON ({exc.msg})", subject=f"{subject}:{line}") from None
        except RecursionError:
            raise InputError("not valid JSON (nested too deeply)", subject=f"{subject}:{buffer.line}") from None
        # A number (or a literal) that ends exactly at the end of the block may go on in the next one.
        if end < len(buffer.text) or not buffer.more():
            return value, end
