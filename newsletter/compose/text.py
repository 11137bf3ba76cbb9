"""Stage 3: the plain-text twin, written from the Markdown tree (not scraped from HTML).

Headings are underlined, lists bulleted, links become numbered references
listed at the end, and prose is wrapped at 76 columns. No Markdown or HTML
syntax is left; entities were decoded by the parser.
"""

from __future__ import annotations

import textwrap

from newsletter.compose.markdown import Body, inline_text

WIDTH = 76


class TextRenderer:
    """Renders markdown-it tree nodes to wrapped plain text with link references."""

    def __init__(self, width: int = WIDTH) -> None:
        self.width = width
        self.references: list[str] = []

    def ref(self, url: str) -> int:
        """The reference number for ``url`` (the same URL keeps its number)."""
        if url not in self.references:
            self.references.append(url)
        return self.references.index(url) + 1

    def inline(self, node) -> str:
        """Inline content as text, links followed by their reference number."""
        parts: list[str] = []
        for child in node.children:
            kind = child.type
            if kind in ("text", "code_inline"):
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
            elif kind == "html_inline":
                continue  # the tag goes; the text between tags is kept as text nodes
            elif child.children:
                parts.append(self.inline(child))
        return "".join(parts)

    def wrap(self, text: str, first: str = "", rest: str = "") -> str:
        """Wrap ``text`` (keeping hard line breaks) with the given indents."""
        lines = []
        for index, piece in enumerate(text.split("\n")):
            lines.append(
                textwrap.fill(
                    " ".join(piece.split(" ")).strip(),
                    self.width,
                    initial_indent=first if index == 0 else rest,
                    subsequent_indent=rest,
                    break_long_words=False,
                    break_on_hyphens=False,
                )
                or (first if index == 0 else rest).rstrip()
            )
        return "\n".join(lines)

    def block(self, node, indent: str = "") -> str:
        """One block node as text (no trailing blank line)."""
        kind = node.type
        if kind == "paragraph":
            return self.wrap(self.inline(node.children[0]), indent, indent)
        if kind == "heading":
            title = " ".join(self.inline(node.children[0]).split())
            level = int(node.tag[1])
            if level <= 2:
                return f"{indent}{title}\n{indent}{('=' if level == 1 else '-') * min(len(title), self.width)}"
            return f"{indent}{title}"
        if kind in ("bullet_list", "ordered_list"):
            return self.list(node, indent)
        if kind == "blockquote":
            return "\n\n".join(self.block(child, indent + "> ") for child in node.children)
        if kind in ("code_block", "fence"):
            return "\n".join(f"{indent}    {line}".rstrip() for line in node.content.rstrip("\n").split("\n"))
        if kind == "hr":
            return f"{indent}{'-' * 20}"
        if kind == "table":
            return self.table(node, indent)
        if kind == "html_block":
            return self.wrap(_html_text(node.content), indent, indent)
        return self.wrap(inline_text(node), indent, indent)

    def list(self, node, indent: str) -> str:
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

    def table(self, node, indent: str) -> str:
        """A table as rows of cells separated by ' | ', the header underlined."""
        rows = []
        for row in node.walk():
            if row.type == "tr":
                rows.append([" ".join(self.inline(cell.children[0]).split()) if cell.children else "" for cell in row.children])
        if not rows:
            return ""
        widths = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(max(map(len, rows)))]
        lines = [indent + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
        lines.insert(1, indent + "-+-".join("-" * w for w in widths))
        return "\n".join(lines)


def _html_text(raw: str) -> str:
    from lxml import html as lxml_html

    try:
        return " ".join(lxml_html.fragment_fromstring(raw, create_parent="div").text_content().split())
    except Exception:  # lxml refuses empty or comment-only fragments
        return ""


def render_text(body: Body, width: int = WIDTH) -> tuple[str, list[str]]:
    """The body as plain text and its list of referenced URLs (in reference order)."""
    renderer = TextRenderer(width)
    chunks: list[str] = []
    for section in body.sections:
        if section.title:
            title = " ".join(section.title.split())
            chunks.append(f"{title}\n{'=' * min(len(title), width)}")
        for node in section.nodes:
            text = renderer.block(node)
            if text.strip():
                chunks.append(text)
    return "\n\n".join(chunks), renderer.references
