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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from newsletter.compose.bidi import first_strong, mark_block_directions
from newsletter.compose.links import LinkRewriter
from newsletter.compose.model import Finding, Issue
from newsletter.compose.sanitize import TEXT_COLUMN_WIDTH, sanitize_html
from newsletter.compose.tables import wide_table

if TYPE_CHECKING:
    from markdown_it.renderer import RendererHTML
    from markdown_it.token import Token
    from markdown_it.tree import SyntaxTreeNode
    from markdown_it.utils import EnvType, OptionsDict

_URL_ATTR = re.compile(r"""(\s(?:href|src)\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_ATTR = re.compile(r"""\s([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_TAG = re.compile(r"<([a-zA-Z][\w:-]*)\b[^>]*>")
#: How Markdown images are sized: Outlook takes the width attribute, every other
#: client the CSS (natural size, never wider than the column).
IMAGE_STYLE = "width:auto;max-width:100%;height:auto"
_HTML_TOKENS = ("html_block", "html_inline")


@dataclass
class Block:
    """A piece of a section: ``html`` (rendered Markdown) or a ``button``."""

    kind: str
    html: str = ""
    text: str = ""
    url: str = ""
    dir: str = ""  # "rtl"/"ltr" when a button's text runs against the document's direction


@dataclass
class Section:
    """A heading and what follows it, up to the next heading of the same level."""

    title_html: str
    title: str
    line: int
    level: int = 1
    dir: str = ""  # "rtl"/"ltr" when the title runs against the document's direction
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
    """The project's Markdown parser: CommonMark, raw HTML on, tables, strikethrough, autolinks.

    Markdown tables get the class ``nl-table`` (only they are styled as data
    tables) inside a ``<div class="nl-scroll">`` that scrolls sideways on its
    own when the table is wider than a phone.
    """
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True, "linkify": True}).enable(["table", "strikethrough", "linkify"])
    md.add_render_rule("table_open", _table_open)
    md.add_render_rule("table_close", _table_close)
    md.add_render_rule("th_open", _th_open)
    return md


def _table_open(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    tokens[idx].attrJoin("class", "nl-table")
    if wide_table(_table_rows(tokens, idx)):
        tokens[idx].attrJoin("class", "nl-table-wide")  # on phones its words may break (see compose/tables.py)
    return '<div class="nl-scroll">' + self.renderToken(tokens, idx, options, env)


def _table_rows(tokens: Sequence[Token], idx: int) -> list[list[str]]:
    """The text of each cell of the table that opens at ``tokens[idx]``, row by row."""
    rows: list[list[str]] = []
    for token in tokens[idx + 1:]:
        if token.type == "table_close":
            break
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and rows:
            rows[-1].append("".join(c.content for c in token.children or () if c.type in ("text", "code_inline")))
    return rows


def _th_open(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    tokens[idx].attrSet("scope", "col")  # a Markdown table's header cells head columns (screen readers)
    return self.renderToken(tokens, idx, options, env)


def _table_close(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    return self.renderToken(tokens, idx, options, env) + "</div>"


def _against(text: str, document: str) -> str:
    """The direction of ``text`` when it differs from the document's, else ``""``."""
    direction = first_strong(text)
    return direction if direction and direction != document else ""


def inline_text(node: SyntaxTreeNode) -> str:
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


#: The end of a sentence: . ! ? … (with any closing quotes) before a space or the end, or a CJK full stop.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s|$)|[。！？]")
PREHEADER_MAX = 140


def first_sentence(body: Body) -> str:
    """The first sentence of the body's first paragraph of prose, for an issue with no preheader.

    Images, buttons and raw HTML are passed over. A sentence longer than
    ``PREHEADER_MAX`` characters is cut at a space and ends with "…".
    """
    for section in body.sections:
        for node in section.nodes:
            if node.type != "paragraph" or _only_image(node) or _button(node):
                continue
            text = " ".join(inline_text(node).split())
            if not text:
                continue
            end = _SENTENCE_END.search(text)
            sentence = text[: end.end()].strip() if end else text
            if len(sentence) > PREHEADER_MAX:
                cut = sentence[:PREHEADER_MAX].rsplit(" ", 1)[0] if " " in sentence[:PREHEADER_MAX] else sentence[:PREHEADER_MAX]
                sentence = cut.rstrip(",;:") + "…"
            return sentence
    return ""


def _rewrite_tokens(tokens: Sequence[Token], issue: Issue, rewriter: LinkRewriter) -> None:
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
                child.attrSet("width", str(TEXT_COLUMN_WIDTH))
                child.attrSet("style", IMAGE_STYLE)
            elif child.type == "html_inline":
                child.content = _rewrite_raw(child.content, rewriter, line)


def _link_text(children: Sequence[Token], start: int) -> str:
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

    def tag(match: re.Match[str]) -> str:
        whole = match.group(0)
        is_image = match.group(1).lower() == "img"
        alt = _attribute(whole, "alt") if is_image else ""

        def replace(attr: re.Match[str]) -> str:
            value = html.unescape(next(g for g in attr.groups()[1:] if g is not None))
            if not attr.group(1).strip().lower().startswith("src"):
                final = rewriter.link(value, text="", line=line)
            elif is_image:
                final = rewriter.image(value, alt=alt, line=line)
            else:  # an iframe's or script's source: made absolute, not an image of the issue
                final = rewriter.resolve(value, line=line)
            return f'{attr.group(1)}"{html.escape(final, quote=True)}"'

        return _URL_ATTR.sub(replace, whole)

    return _TAG.sub(tag, raw)


def _attribute(tag: str, name: str) -> str:
    """The (unescaped) value of attribute ``name`` in the start tag ``tag``, or ``""``."""
    for match in _ATTR.finditer(tag):
        if match.group(1).lower() == name:
            return html.unescape(next((g for g in match.groups()[1:] if g is not None), ""))
    return ""


def _meaningful(children: Sequence[SyntaxTreeNode]) -> list[SyntaxTreeNode]:
    return [c for c in children if not (c.type in ("softbreak", "hardbreak") or (c.type == "text" and not c.content.strip()))]


def _only_image(paragraph: SyntaxTreeNode) -> dict[str, str] | None:
    inline = paragraph.children[0] if paragraph.children else None
    items = _meaningful(inline.children) if inline else []
    if len(items) == 1 and items[0].type == "link":
        items = _meaningful(items[0].children)
    if len(items) == 1 and items[0].type == "image":
        image = items[0]
        return {"src": str(image.attrGet("src") or ""), "alt": image.content, "title": str(image.attrGet("title") or "")}
    return None


def _button(paragraph: SyntaxTreeNode) -> Block | None:
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
    mark_block_directions(tokens, issue.dir)
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
            heading = node.children[0].token
            assert heading is not None  # a heading's one child is its inline token
            title_html = md.renderer.renderInline(heading.children or [], md.options, {})
            title = inline_text(node)
            current = Section(title_html=title_html, title=title, line=line, level=top, dir=_against(title, issue.dir))
            continue
        current.nodes.append(node)
        button = _button(node) if node.type == "paragraph" else None
        if button:
            button.dir = _against(button.text, issue.dir)
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
