"""Stage 2: Markdown to structured HTML blocks (hero, sections, buttons).

The Markdown is parsed once with markdown-it-py (CommonMark plus tables,
strikethrough and autolinks). URLs are rewritten on the token stream, so the
HTML and the plain text see the same final links. The result is a ``Body``:
an optional hero image, then sections that each start at a top-level heading
and hold HTML blocks and call-to-action buttons.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from newsletter.compose.links import LinkRewriter
from newsletter.compose.model import Finding, Issue
from newsletter.compose.sanitize import sanitize_html

_URL_ATTR = re.compile(r"""(\s(?:href|src)\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_HTML_TOKENS = ("html_block", "html_inline")


@dataclass
class Block:
    """A piece of a section: ``html`` (rendered Markdown) or a ``button``."""

    kind: str
    html: str = ""
    text: str = ""
    url: str = ""


@dataclass
class Section:
    """A heading and what follows it, up to the next heading of the same level."""

    title_html: str
    title: str
    line: int
    level: int = 1
    blocks: list[Block] = field(default_factory=list)
    nodes: list[Any] = field(default_factory=list)  # markdown-it tree nodes, for the plain text


@dataclass
class Body:
    """The structured issue body."""

    hero: dict[str, str] | None
    sections: list[Section]
    subject_from_h1: str
    findings: list[Finding]


def markdown_parser():
    """The project's Markdown parser: CommonMark, raw HTML on, tables, strikethrough, autolinks."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True, "linkify": True}).enable(["table", "strikethrough", "linkify"])


def inline_text(node) -> str:
    """Plain text of a tree node's inline content (markup dropped, entities decoded)."""
    parts: list[str] = []
    for child in node.walk():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
    return "".join(parts).strip()


def _rewrite_tokens(tokens, issue: Issue, rewriter: LinkRewriter) -> None:
    line = issue.body_line
    for token in tokens:
        if token.map:
            line = issue.body_line + token.map[0]
        if token.type == "html_block":
            token.content = _rewrite_raw(token.content, rewriter, line)
        if token.type != "inline" or not token.children:
            continue
        children = token.children
        for index, child in enumerate(children):
            if child.type == "link_open":
                text = _link_text(children, index)
                child.attrSet("href", rewriter.link(str(child.attrGet("href") or ""), text=text, line=line))
            elif child.type == "image":
                child.attrSet("src", rewriter.image(str(child.attrGet("src") or ""), alt=child.content, line=line))
            elif child.type == "html_inline":
                child.content = _rewrite_raw(child.content, rewriter, line)


def _link_text(children, start: int) -> str:
    depth, parts = 0, []
    for child in children[start:]:
        if child.type == "link_open":
            depth += 1
        elif child.type == "link_close":
            depth -= 1
            if depth == 0:
                break
        elif child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "image":
            parts.append(child.content)
    return "".join(parts).strip()


def _rewrite_raw(raw: str, rewriter: LinkRewriter, line: int) -> str:
    """Rewrite href/src attributes of raw HTML with the same rules as Markdown links."""

    def replace(match: re.Match[str]) -> str:
        value = html.unescape(next(g for g in match.groups()[1:] if g is not None))
        is_src = match.group(1).strip().lower().startswith("src")
        final = rewriter.image(value, alt="", line=line) if is_src else rewriter.link(value, text="", line=line)
        return f'{match.group(1)}"{html.escape(final, quote=True)}"'

    return _URL_ATTR.sub(replace, raw)


def _meaningful(children):
    return [c for c in children if not (c.type in ("softbreak", "hardbreak") or (c.type == "text" and not c.content.strip()))]


def _only_image(paragraph) -> dict[str, str] | None:
    inline = paragraph.children[0] if paragraph.children else None
    items = _meaningful(inline.children) if inline else []
    if len(items) == 1 and items[0].type == "link":
        items = _meaningful(items[0].children)
    if len(items) == 1 and items[0].type == "image":
        image = items[0]
        return {"src": str(image.attrGet("src") or ""), "alt": image.content, "title": str(image.attrGet("title") or "")}
    return None


def _button(paragraph) -> Block | None:
    """A paragraph that is only a bold link, or only a link whose text ends in '>>'."""
    inline = paragraph.children[0] if paragraph.children else None
    items = _meaningful(inline.children) if inline else []
    bold = False
    if len(items) == 1 and items[0].type in ("strong", "em"):
        bold = items[0].type == "strong"
        items = _meaningful(items[0].children)
    if len(items) != 1 or items[0].type != "link":
        return None
    link = items[0]
    text = inline_text(link)
    if not text or not (bold or text.endswith((">>", "»"))):
        return None
    return Block("button", text=text, url=str(link.attrGet("href") or ""))


def build_body(issue: Issue, rewriter: LinkRewriter) -> Body:
    """Parse the issue's Markdown into a hero, sections and blocks, rewriting URLs on the way."""
    from markdown_it.tree import SyntaxTreeNode

    md = markdown_parser()
    tokens = md.parse(issue.body)
    _rewrite_tokens(tokens, issue, rewriter)
    nodes = list(SyntaxTreeNode(tokens).children)
    findings: list[Finding] = []

    hero = None
    if nodes and nodes[0].type == "paragraph":
        hero = _only_image(nodes[0])
        if hero:
            nodes = nodes[1:]

    subject_from_h1 = ""
    if not issue.subject:
        for node in nodes:
            if node.type == "heading" and node.tag == "h1":
                subject_from_h1 = inline_text(node)
                nodes.remove(node)
                break

    levels = [int(node.tag[1]) for node in nodes if node.type == "heading"]
    top = min(levels) if levels else 0
    sections: list[Section] = []
    current = Section(title_html="", title="", line=issue.body_line)
    for node in nodes:
        line = issue.body_line + (node.map[0] if node.map else 0)
        if node.type == "heading" and int(node.tag[1]) == top:
            if current.nodes or current.title:
                sections.append(current)
            title_html = md.renderer.renderInline(node.children[0].token.children, md.options, {})
            current = Section(title_html=title_html, title=inline_text(node), line=line, level=top)
            continue
        current.nodes.append(node)
        button = _button(node) if node.type == "paragraph" else None
        if button:
            current.blocks.append(button)
            continue
        node_tokens = node.to_tokens()
        rendered = md.renderer.render(node_tokens, md.options, {})
        if any(t.type in _HTML_TOKENS or any(c.type in _HTML_TOKENS for c in t.children or ()) for t in node_tokens):
            rendered, found = sanitize_html(rendered, f"{issue.path}:{line}")
            findings.extend(found)
        if current.blocks and current.blocks[-1].kind == "html":
            current.blocks[-1].html += rendered  # one mj-text per run of prose keeps the HTML small
        else:
            current.blocks.append(Block("html", html=rendered))
    if current.nodes or current.title:
        sections.append(current)
    return Body(hero=hero, sections=sections, subject_from_h1=subject_from_h1, findings=findings)
