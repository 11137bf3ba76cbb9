"""Open pixel and click-tracking links for the outbox and SMTP backends.

``TrackingRewriter`` parses a send's HTML once, splitting it into static
pieces and link slots, so that producing each recipient's copy is one join of
strings and signed URLs (it runs once per recipient, 100,000 times a send).
"""

from __future__ import annotations

import html
import re

from newsletter import tokens

# A whole <a ...> start tag; quoted attribute values may contain '>'.
_A_TAG = re.compile(r"""<a\b(?:[^>"']|"[^"]*"|'[^']*')*>""", re.IGNORECASE)
# The href attribute inside such a tag: group 2 = double-quoted, 3 = single-quoted, 4 = bare value.
_HREF = re.compile(r"""(?<=\s)href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
#: The hidden canary link's attributes: empty, out of sight, out of the tab order and of screen readers.
CANARY_ATTRIBUTES = ('aria-hidden="true" tabindex="-1" style="display:none;font-size:0;line-height:0;'
                     'max-height:0;overflow:hidden;mso-hide:all"')


class TrackingRewriter:
    """Rewrites an issue's web links to click-tracking URLs and adds an open pixel and a hidden canary link.

    Only ``href`` values (compared HTML-unescaped) equal to one of ``links`` are
    rewritten, to ``tokens.click_url(..., index)`` where ``index`` is the link's
    position in ``links`` (the list stored in ``sends.links``); placeholders such
    as ``%%unsubscribe_url%%``, ``mailto:`` and other links stay as they are.
    """

    def __init__(self, html_text: str, links: list[str], *, public_url: str, secret_key: str, send_id: int) -> None:
        self.public_url = public_url
        self.secret_key = secret_key
        self.send_id = send_id
        index_of: dict[str, int] = {}
        for i, link in enumerate(links):
            index_of.setdefault(link, i)
        self.pieces: list[str] = []  # static text; slot k sits right after piece k
        self.slots: list[int] = []  # link index of each slot
        position, closing = 0, ""
        for tag in _A_TAG.finditer(html_text):
            href = _HREF.search(tag.group(0))
            if href is None:
                continue
            value = next(v for v in href.groups() if v is not None)
            index = index_of.get(html.unescape(value).strip())
            if index is None:
                continue
            # Each piece closes the previous slot's quote and opens its own.
            self.pieces.append(closing + html_text[position : tag.start() + href.start()] + 'href="')
            self.slots.append(index)
            position, closing = tag.start() + href.end(), '"'
        tail = closing + html_text[position:]
        body_end = list(_BODY_END.finditer(tail))
        cut = body_end[-1].start() if body_end else len(tail)
        self.before_pixel, self.after_pixel = tail[:cut], tail[cut:]

    @property
    def link_slots(self) -> int:
        """How many hrefs of the HTML are rewritten per recipient."""
        return len(self.slots)

    def for_recipient(self, subscriber_id: int) -> str:
        """The HTML for one recipient: tracked links and the open pixel filled in."""
        click = tokens.click_url
        base, key, send = self.public_url, self.secret_key, self.send_id
        parts: list[str] = []
        for piece, index in zip(self.pieces, self.slots, strict=True):
            parts.append(piece)
            parts.append(html.escape(click(base, key, send, subscriber_id, index), quote=True))
        pixel = html.escape(tokens.open_url(base, key, send, subscriber_id), quote=True)
        canary = html.escape(tokens.canary_url(base, key, send, subscriber_id), quote=True)
        parts.append(self.before_pixel)
        # The canary: a link with nothing to see or click, which only a machine fetching every link follows.
        parts.append(f'<a href="{canary}" {CANARY_ATTRIBUTES}></a>')
        parts.append(f'<img src="{pixel}" width="1" height="1" alt="" style="display:block;border:0">')
        parts.append(self.after_pixel)
        return "".join(parts)
