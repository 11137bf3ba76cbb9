"""Raw HTML inside Markdown: keep it, minus what has no place in an email.

The HTML part and the plain-text part both read raw HTML through
``clean_tree``, so nothing removed from one (a script, a style sheet, a
form, an ``on*`` handler) can reach the other.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from newsletter.compose.model import WARNING, Finding

if TYPE_CHECKING:
    from lxml.html import HtmlElement

#: Elements that mail clients strip or that only make sense on a web page.
#: ``style`` too: a pasted style sheet would restyle the whole email.
BLOCKED_TAGS = frozenset(
    "script style iframe frame frameset object embed applet form input button select textarea "
    "option base link meta noscript title template".split()
)
URL_ATTRIBUTES = ("href", "src", "action", "background", "formaction")
#: Width of the default layout's text column (600 px less 2 × 28 px padding):
#: the widest an image in the text may be, and the width Outlook gets for
#: images whose own width is unknown.
TEXT_COLUMN_WIDTH = 544
_PIXELS = re.compile(r"^\s*(\d+)(?:px)?\s*$", re.IGNORECASE)


def clean_tree(fragment: str, where: str = "") -> tuple[HtmlElement, list[Finding]]:
    """``fragment`` parsed into an lxml ``<div>`` with blocked elements, ``on*``
    handlers and ``javascript:`` URLs removed; returns ``(root, findings)``."""
    from lxml import html as lxml_html

    root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    findings: list[Finding] = []
    for element in list(root.iter()):
        if not isinstance(element.tag, str):  # comments, processing instructions
            continue
        if element.tag.lower() in BLOCKED_TAGS:
            findings.append(Finding("unsafe-html", WARNING, f"removed <{element.tag}> (it has no place in email)", where))
            element.drop_tree()
            continue
        for name in list(element.attrib):
            value = element.attrib[name]
            if name.lower().startswith("on"):
                findings.append(Finding("unsafe-html", WARNING, f"removed {name}= handler from <{element.tag}>", where))
                del element.attrib[name]
            elif name.lower() in URL_ATTRIBUTES and value.strip().lower().startswith(("javascript:", "vbscript:")):
                findings.append(Finding("unsafe-html", WARNING, f"removed {name}={value[:30]!r} from <{element.tag}>", where))
                del element.attrib[name]
    return root, findings


def fit_image(image: HtmlElement) -> None:
    """Give an lxml ``<img>`` a pixel width no wider than the text column.

    Outlook on Windows sizes images by the ``width`` attribute alone (it
    ignores CSS widths on images and max-width everywhere), so every image
    gets one. An image of unknown width gets the column's; its CSS
    ``width:auto; max-width:100%`` lets every other client show it at its
    natural size, never wider than the column.
    """
    style = image.get("style", "").strip().rstrip(";")
    width = _PIXELS.match(image.get("width", ""))
    if width is None:
        image.set("width", str(TEXT_COLUMN_WIDTH))
        image.attrib.pop("height", None)  # a height alone would distort it
        if not re.search(r"(^|;)\s*width\s*:", style):
            style = f"{style};width:auto" if style else "width:auto"
        image.set("style", _fluid(style))
        return
    image.set("style", _fluid(style))
    pixels = int(width.group(1))
    if pixels > TEXT_COLUMN_WIDTH:
        height = _PIXELS.match(image.get("height", ""))
        if height is not None:
            image.set("height", str(round(int(height.group(1)) * TEXT_COLUMN_WIDTH / pixels)))
        image.set("width", str(TEXT_COLUMN_WIDTH))
    else:
        image.set("width", str(pixels))


def _fluid(style: str) -> str:
    if "max-width" not in style:
        style = f"{style};max-width:100%" if style else "max-width:100%"
    if not re.search(r"(^|;)\s*height\s*:", style):
        style += ";height:auto"
    return style


def sanitize_html(fragment: str, where: str) -> tuple[str, list[Finding]]:
    """Remove blocked elements, ``on*`` handlers and ``javascript:`` URLs from ``fragment``,
    and give every image a pixel width that fits the column.

    Returns the cleaned HTML and one warning per removal.
    """
    from lxml import html as lxml_html

    root, findings = clean_tree(fragment, where)
    for image in root.iter("img"):
        fit_image(image)
    inner = (root.text or "") + "".join(lxml_html.tostring(child, encoding="unicode") for child in root)
    return inner, findings
