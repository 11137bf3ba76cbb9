"""Helpers for the text files the tool reads (CSV lists, saved event arrays)."""

from __future__ import annotations

import codecs
from pathlib import Path


def line_of_bad_utf8(path: str | Path) -> int:
    """The line holding the first byte of ``path`` that is not UTF-8.

    A text reader decodes in blocks, so when it fails it cannot say on which
    line; this reads the file again (only on that error) to find out.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with Path(path).open("rb") as handle:
        while block := handle.read(1 << 16):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                return line + block.count(b"\n", 0, max(exc.start, 0))
            line += block.count(b"\n")
    return line
