"""Writing direction: right-to-left languages and the first-strong-character rule.

A block of text takes the direction of its first strongly directional
character (Unicode's bidi classes L, R and AL), as browsers do for
``dir="auto"``; a block without one takes the document's direction.
"""

from __future__ import annotations

import unicodedata

LTR = "ltr"
RTL = "rtl"
#: Primary language subtags written right to left.
RTL_LANGUAGES = frozenset("ar arc ckb dv fa he iw ks ps sd syr ug ur yi".split())
#: Invisible marks that set the direction of a plain-text line.
MARKS = {LTR: "\u200e", RTL: "\u200f"}


def _strong(char: str) -> str:
    kind = unicodedata.bidirectional(char)
    if kind == "L":
        return LTR
    if kind in ("R", "AL"):
        return RTL
    return ""


def first_strong(text: str) -> str:
    """``"ltr"`` or ``"rtl"`` from the first strongly directional character, ``""`` if none."""
    for char in text:
        found = _strong(char)
        if found:
            return found
    return ""


def mixes_directions(text: str) -> bool:
    """True when ``text`` holds both left-to-right and right-to-left letters."""
    seen = set()
    for char in text:
        found = _strong(char)
        if found:
            seen.add(found)
            if len(seen) == 2:
                return True
    return False


def language_direction(lang: str) -> str:
    """The direction of language tag ``lang`` (``ar``, ``he-IL``, ``fa_IR`` …)."""
    primary = lang.strip().replace("_", "-").split("-", 1)[0].lower()
    return RTL if primary in RTL_LANGUAGES else LTR


def mark_line(line: str, direction: str) -> str:
    """``line`` with a direction mark in front when it mixes directions, so a
    plain-text reader lays it out in the direction of the block it belongs to."""
    if direction in MARKS and mixes_directions(line):
        return MARKS[direction] + line
    return line


#: Markdown block tokens that get a ``dir`` attribute when their text runs
#: against the document's direction.
_DIRECTED_BLOCKS = frozenset(
    "paragraph_open heading_open bullet_list_open ordered_list_open list_item_open "
    "blockquote_open table_open th_open td_open".split()
)


def mark_block_directions(tokens: list, document: str) -> None:
    """Set ``dir="rtl"`` (or ``"ltr"``) on every Markdown block whose first strong
    character runs against the direction it would inherit (the enclosing
    block's, or ``document``'s); blocks without one inherit."""
    inherited = [document]  # the effective direction of each open block
    for index, token in enumerate(tokens):
        if token.nesting == -1 and token.type.endswith("_close") and len(inherited) > 1:
            inherited.pop()
        if token.nesting != 1:
            continue
        direction = inherited[-1]
        if token.type in _DIRECTED_BLOCKS and not token.hidden:
            own = _block_direction(tokens, index)
            if own and own != direction:
                token.attrSet("dir", own)
                direction = own
        inherited.append(direction)


def _block_direction(tokens: list, start: int) -> str:
    level = tokens[start].level
    for token in tokens[start + 1 :]:
        if token.nesting == -1 and token.level == level:
            break
        for child in token.children or ():
            if child.type in ("text", "code_inline", "image"):
                found = first_strong(child.content)
                if found:
                    return found
    return ""
