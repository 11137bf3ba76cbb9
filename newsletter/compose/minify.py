"""Make the final HTML smaller without changing what any mail client shows.

Gmail clips a message whose HTML is over about 102 KB and hides the rest,
footer and unsubscribe link included, so every byte counts:

- comments go, except Outlook's conditional comments (``<!--[if mso]>…``),
  whose content is Outlook's own HTML and is made smaller the same way;
- whitespace collapses outside ``<pre>`` and ``<textarea>``: a run between
  two tags goes entirely where either tag is a block or table tag (there it
  never shows) and becomes one space elsewhere, where it may;
- style-sheet rules whose selectors match nothing in the email go (a rule
  prefixed for one client, such as Outlook.com's ``[data-ogsc]``, is judged
  without the prefix).

General-purpose HTML minifiers drop quotes, optional tags and conditional
comments that Outlook needs, so this one does only the safe steps above.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lxml.html import HtmlElement

_VERBATIM = re.compile(r"<(pre|textarea)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_COMMENT = re.compile(r"<!--(.*?)-->", re.DOTALL)
#: A "not Outlook" block left empty (MJML's web-font links, removed by compose).
_EMPTY_NOT_MSO = re.compile(r"<!--\[if !mso\]><!-->\s*<!--<!\[endif\]-->")
_STYLE = re.compile(r"(<style\b[^>]*>)(.*?)(</style\s*>)", re.IGNORECASE | re.DOTALL)
_TOKEN = re.compile(r"(<!--.*?-->|<[^>]*>)", re.DOTALL)
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z][\w:-]*)")
_SPACE = re.compile(r"[ \t\r\n\f\v]+")
_CSS_PUNCTUATION = re.compile(r"\s*([{};])\s*")
#: Tags around which whitespace never renders.
_BLOCK_TAGS = frozenset(
    "html head body title meta link style base table thead tbody tfoot tr td th caption colgroup col "
    "div p ul ol li dl dt dd h1 h2 h3 h4 h5 h6 blockquote hr br center pre section article header footer "
    "nav aside main figure figcaption address noscript xml o:officedocumentsettings o:allowpng "
    "o:pixelsperinch v:roundrect v:rect v:fill v:textbox".split()
)
#: Selector prefixes that a mail client adds to its own markup; rules behind them
#: are judged by the rest of the selector.
_CLIENT_PREFIXES = re.compile(
    r"^\s*(?:#outlook\b|\[data-ogs[cb]\]|\.moz-text-html|u\s*\+\s*\.body|#MessageViewBody|\[x-apple-data-detectors\])\s*",
    re.IGNORECASE,
)


def minify_html(html: str) -> str:
    """``html`` with comments (but Outlook's), needless whitespace and unused CSS removed."""
    out: list[str] = []
    position = 0
    for match in _VERBATIM.finditer(html):
        out.append(_minify_chunk(html[position : match.start()]))
        out.append(match.group(0))
        position = match.end()
    out.append(_minify_chunk(html[position:]))
    return drop_unused_css("".join(out)).strip() + "\n"


def _is_conditional(comment_body: str) -> bool:
    body = comment_body.strip()
    return body.startswith(("[if", "<![endif]")) or body.endswith("<![endif]")


def _minify_chunk(chunk: str) -> str:
    def comment(match: re.Match[str]) -> str:
        body = match.group(1)
        if not _is_conditional(body):
            return ""
        return "<!--" + _collapse(body) + "-->"

    chunk = _EMPTY_NOT_MSO.sub("", _COMMENT.sub(comment, chunk))
    chunk = _STYLE.sub(lambda m: m.group(1) + _minify_css(m.group(2)) + m.group(3), chunk)
    return _collapse(chunk)


def _collapse(chunk: str) -> str:
    tokens = _TOKEN.split(chunk)
    for index in range(0, len(tokens), 2):  # even indexes are text, odd ones tags/comments
        text = tokens[index]
        if not text or text.strip(" \t\r\n\f\v"):
            tokens[index] = _SPACE.sub(" ", text)
            continue
        before = tokens[index - 1] if index > 0 else ""
        after = tokens[index + 1] if index + 1 < len(tokens) else ""
        if is_block_tag(before) or is_block_tag(after) or not before or not after:
            # Invisible here; a newline (where there was one) keeps lines short and diffs readable.
            tokens[index] = "\n" if "\n" in text else ""
        else:
            tokens[index] = " "
    for index in range(1, len(tokens), 2):
        if not tokens[index].startswith("<!--"):
            tokens[index] = _SPACE.sub(" ", tokens[index])
    return "".join(tokens)


def is_block_tag(token: str) -> bool:
    """True for a comment or a tag of an element around which whitespace never renders."""
    if token.startswith("<!"):  # a comment ("<!--") or a doctype
        return True
    match = _TAG_NAME.match(token)
    return match is not None and match.group(1).lower() in _BLOCK_TAGS


def _minify_css(css: str) -> str:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    return _CSS_PUNCTUATION.sub(r"\1", _SPACE.sub(" ", css)).strip()


def drop_unused_css(html: str) -> str:
    """Remove style rules (and selectors of a group) that match no element of ``html``.

    Rules that cannot be judged (pseudo-elements, unknown selectors, at-rules
    other than ``@media``) are kept. Style sheets inside Outlook's conditional
    comments are left alone: only Outlook reads them.
    """
    from lxml import html as lxml_html

    document = lxml_html.fromstring(html)
    cache: dict[str, bool] = {}

    def matches(selector: str) -> bool:
        if selector not in cache:
            cache[selector] = _selector_matches(document, selector)
        return cache[selector]

    def rewrite(match: re.Match[str]) -> str:
        return match.group(1) + _filter_rules(match.group(2), matches) + match.group(3)

    kept: list[str] = []
    position = 0
    for comment in _COMMENT.finditer(html):  # leave conditional comments' contents alone
        kept.append(_STYLE.sub(rewrite, html[position : comment.start()]))
        kept.append(comment.group(0))
        position = comment.end()
    kept.append(_STYLE.sub(rewrite, html[position:]))
    return re.sub(r"<style\b[^>]*>\s*</style\s*>", "", "".join(kept), flags=re.IGNORECASE)


def _selector_matches(document: HtmlElement, selector: str) -> bool:
    from cssselect import SelectorError
    from lxml.cssselect import CSSSelector

    bare = _CLIENT_PREFIXES.sub("", selector).strip()
    if not bare or ":" in bare:  # :root, :hover, ::before … are not judged
        return True
    try:
        return bool(CSSSelector(bare)(document))
    except (SelectorError, SyntaxError, ValueError):
        return True


def _filter_rules(css: str, matches: Callable[[str], bool]) -> str:
    import tinycss2

    rules = tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)
    out: list[str] = []
    for rule in rules:
        if rule.type == "qualified-rule":
            selectors = [s.strip() for s in tinycss2.serialize(rule.prelude).split(",")]
            used = [s for s in selectors if s and matches(s)]
            if used:
                out.append(",".join(used) + "{" + tinycss2.serialize(rule.content).strip() + "}")
        elif rule.type == "at-rule" and rule.lower_at_keyword == "media" and rule.content is not None:
            inner = _filter_rules(tinycss2.serialize(rule.content), matches)
            if inner:
                out.append("@media " + tinycss2.serialize(rule.prelude).strip() + "{" + inner + "}")
        elif rule.type != "error":
            out.append(tinycss2.serialize([rule]).strip())
    return "".join(out)
