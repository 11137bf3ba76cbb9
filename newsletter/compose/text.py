"""Stage 3: the plain-text twin, written from the Markdown tree (not scraped from HTML).

Headings are underlined, lists bulleted, links become numbered references
listed at the end, and prose is wrapped at 76 display columns (a CJK
character counts two; see ``wrapping``). No Markdown or HTML syntax is left;
entities were decoded by the parser. Raw HTML is read through the same
sanitiser as the HTML part, so what it removes (scripts, styles, forms …)
never reaches the text, and raw images contribute their alt text. A line
that mixes left-to-right and right-to-left words starts with a direction mark.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

from newsletter.compose.bidi import LTR, first_strong, mark_line
from newsletter.compose.markdown import Body, inline_text
from newsletter.compose.sanitize import BLOCKED_TAGS, clean_tree
from newsletter.compose.wrapping import display_width, ljust, wrap

if TYPE_CHECKING:
    from lxml.html import HtmlElement
    from markdown_it.tree import SyntaxTreeNode

WIDTH = 76
_TAG = re.compile(r"<\s*(/?)\s*([a-zA-Z][\w:-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>")
_ATTR = re.compile(r"""([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
_BLOCKS = frozenset(
    "address article aside blockquote center dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 h6 "
    "header hr li main nav ol p pre section table tbody thead tfoot tr ul".split()
)
_SPACE_RUN = re.compile(r"[ \t\r\n\f\v]+")
_LINKED_SCHEMES = ("http://", "https://", "mailto:")


def _attributes(tag_body: str) -> dict[str, str]:
    return {m.group(1).lower(): html.unescape(next((g for g in m.groups()[1:] if g is not None), "")) for m in _ATTR.finditer(tag_body)}


class TextRenderer:
    """Renders markdown-it tree nodes to wrapped plain text with link references."""

    def __init__(self, width: int = WIDTH, direction: str = LTR) -> None:
        self.width = width
        self.direction = direction
        self.references: list[str] = []

    def ref(self, url: str) -> int:
        """The reference number for ``url`` (the same URL keeps its number)."""
        if url not in self.references:
            self.references.append(url)
        return self.references.index(url) + 1

    def _link_suffix(self, url: str) -> str:
        return f" [{self.ref(url)}]" if url.startswith(_LINKED_SCHEMES) else ""

    def inline(self, node: SyntaxTreeNode) -> str:
        """Inline content as text, links followed by their reference number.

        Inline raw HTML: tags go, the text between them stays, except inside
        elements the sanitiser removes (``<script>…</script>``); ``<img>``
        gives its alt text, ``<br>`` a line break, ``<a href>`` a reference.
        """
        parts: list[str] = []
        skipping = ""  # a blocked element whose content is being left out
        raw_links: list[str] = []
        for child in node.children:
            kind = child.type
            if kind == "html_inline":
                skipping = self._inline_tag(child.content, parts, raw_links, skipping)
            elif skipping:
                continue
            elif kind in ("text", "code_inline"):
                parts.append(child.content)
            elif kind == "softbreak":
                parts.append(" ")
            elif kind == "hardbreak":
                parts.append("\n")
            elif kind == "image":
                parts.append(f"[{child.content}]" if child.content else "")
            elif kind == "link":
                label = self.inline(child).strip()
                parts.append(f"{label} [{self.ref(str(child.attrGet('href') or ''))}]")
            elif child.children:
                parts.append(self.inline(child))
        return "".join(parts)

    def _inline_tag(self, raw: str, parts: list[str], raw_links: list[str], skipping: str) -> str:
        """Apply one inline raw-HTML tag; returns the element now being skipped, if any."""
        match = _TAG.match(raw.strip())
        if not match:
            return skipping
        closing, name, rest = bool(match.group(1)), match.group(2).lower(), match.group(3)
        if skipping:
            return "" if closing and name == skipping else skipping
        if name in BLOCKED_TAGS:
            return "" if closing or name in _VOID or rest.rstrip().endswith("/") else name
        if name == "img" and not closing:
            alt = _attributes(rest).get("alt", "").strip()
            parts.append(f"[{alt}]" if alt else "")
        elif name == "br":
            parts.append("\n")
        elif name == "a" and not closing:
            raw_links.append(_attributes(rest).get("href", "").strip())
        elif name == "a" and raw_links:
            parts.append(self._link_suffix(raw_links.pop()))
        return ""

    def wrap(self, text: str, first: str = "", rest: str = "", direction: str = "") -> str:
        """Wrap ``text`` (keeping hard line breaks) with the given indents.

        ``direction`` is the block's; by default its first strong character's.
        """
        direction = direction or first_strong(text) or self.direction
        lines: list[str] = []
        for index, piece in enumerate(text.split("\n")):
            lead = first if index == 0 else rest
            lines.extend(mark_line(line, direction) for line in wrap(piece, self.width, lead, rest))
        return "\n".join(lines)

    def underline(self, title: str, char: str, indent: str = "") -> str:
        """``title`` with a line of ``char`` under it, as wide as the title shows."""
        shown = mark_line(title, first_strong(title) or self.direction)
        return f"{indent}{shown}\n{indent}{char * min(display_width(title), self.width)}"

    def block(self, node: SyntaxTreeNode, indent: str = "") -> str:
        """One block node as text (no trailing blank line)."""
        kind = node.type
        if kind == "paragraph":
            return self.wrap(self.inline(node.children[0]), indent, indent)
        if kind == "heading":
            title = " ".join(self.inline(node.children[0]).split())
            level = int(node.tag[1])
            if level <= 2:
                return self.underline(title, "=" if level == 1 else "-", indent)
            return f"{indent}{title}"
        if kind in ("bullet_list", "ordered_list"):
            return self.list_block(node, indent)
        if kind == "blockquote":
            return "\n\n".join(self.block(child, indent + "> ") for child in node.children)
        if kind in ("code_block", "fence"):
            return "\n".join(f"{indent}    {line}".rstrip() for line in node.content.rstrip("\n").split("\n"))
        if kind == "hr":
            return f"{indent}{'-' * 20}"
        if kind == "table":
            return self.table(node, indent)
        if kind == "html_block":
            return "\n\n".join(self.wrap(paragraph, indent, indent) for paragraph in self.raw_html(node.content))
        return self.wrap(inline_text(node), indent, indent)

    def list_block(self, node: SyntaxTreeNode, indent: str) -> str:
        """A bulleted or numbered list; nested blocks are indented under their item."""
        items = []
        start = int(node.attrGet("start") or 1) if node.type == "ordered_list" else 1
        for number, item in enumerate(node.children, start):
            marker = f"{number}. " if node.type == "ordered_list" else "* "
            rest = indent + " " * len(marker)
            parts = []
            for index, child in enumerate(item.children):
                if index == 0 and child.type == "paragraph":
                    parts.append(self.wrap(self.inline(child.children[0]), indent + marker, rest))
                else:
                    parts.append(self.block(child, rest))
            if not parts:
                parts.append((indent + marker).rstrip())
            elif item.children[0].type != "paragraph":
                parts[0] = indent + marker + parts[0].lstrip()
            items.append("\n".join(parts))
        return "\n".join(items)

    def table(self, node: SyntaxTreeNode, indent: str) -> str:
        """A table as rows of cells separated by ' | ', the header underlined; a table
        too wide for the line becomes one "Header: value" record per row instead."""
        rows = []
        for row in node.walk():
            if row.type == "tr":
                rows.append([" ".join(self.inline(cell.children[0]).split()) if cell.children else "" for cell in row.children])
        if not rows:
            return ""
        columns = max(map(len, rows))
        widths = [max(display_width(r[i]) if i < len(r) else 0 for r in rows) for i in range(columns)]
        if display_width(indent) + sum(widths) + 3 * (columns - 1) > self.width:
            return self.records(rows, indent)
        lines = [indent + " | ".join(ljust(cell, widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
        lines.insert(1, indent + "-+-".join("-" * w for w in widths))
        return "\n".join(lines)

    def records(self, rows: list[list[str]], indent: str) -> str:
        """Table rows as blocks of "Header: value" lines (the first row is the header)."""
        header, blocks = rows[0], []
        for row in rows[1:]:
            lines = []
            for index, cell in enumerate(row):
                label = header[index] if index < len(header) and header[index] else f"{index + 1}"
                lines.append(self.wrap(f"{label}: {cell}", indent, indent + "  "))
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)

    def raw_html(self, raw: str) -> list[str]:
        """The paragraphs of a raw HTML block as the sanitised HTML shows them."""
        try:
            root, _ = clean_tree(raw)
        except Exception:  # lxml refuses empty or comment-only fragments
            return []
        paragraphs: list[str] = []
        current: list[str] = []

        def flush() -> None:
            text = "".join(current).strip(" ")
            if text.strip():
                paragraphs.append(text)
            current.clear()

        def walk(element: HtmlElement) -> None:
            tag = element.tag.lower() if isinstance(element.tag, str) else ""
            if tag == "img":
                alt = (element.get("alt") or "").strip()
                current.append(f"[{alt}]" if alt else "")
            elif tag == "br":
                current.append("\n")
            elif tag:
                if tag in _BLOCKS:
                    flush()
                if tag == "li":
                    current.append("* ")
                current.append(_SPACE_RUN.sub(" ", element.text or ""))
                for child in element:
                    walk(child)
                if tag == "a":
                    current.append(self._link_suffix((element.get("href") or "").strip()))
                elif tag in ("td", "th"):
                    current.append(" ")
                if tag in _BLOCKS:
                    flush()
            current.append(_SPACE_RUN.sub(" ", element.tail or ""))

        walk(root)
        flush()
        return paragraphs


def render_text(body: Body, width: int = WIDTH, direction: str = LTR) -> tuple[str, list[str]]:
    """The body as plain text and its list of referenced URLs (in reference order)."""
    renderer = TextRenderer(width, direction)
    chunks: list[str] = []
    for section in body.sections:
        if section.title:
            chunks.append(renderer.underline(" ".join(section.title.split()), "="))
        for node in section.nodes:
            text = renderer.block(node)
            if text.strip():
                chunks.append(text)
    return "\n\n".join(chunks), renderer.references
