"""One-function adapters around the third-party renderers, network off.

Each takes a string and returns ``(html, warnings)``; swapping MJML or the
CSS inliner for another implementation means changing only this file.
"""

from __future__ import annotations

import logging
import re

from newsletter.compose.deferred import defer_unused_imports
from newsletter.errors import LayoutError

_FONT_LINK = re.compile(r"<link\b[^>]*fonts\.googleapis\.com[^>]*>\s*", re.IGNORECASE)
_FONT_IMPORT = re.compile(r"@import\s+url\([^)]*fonts\.googleapis\.com[^)]*\);?\s*", re.IGNORECASE)
#: MJML writes height="auto" on images; HTML wants a number of pixels or nothing.
_INVALID_HEIGHT = re.compile(r'(<img\b[^>]*?)\sheight="auto"', re.IGNORECASE)
_DOCTYPE = re.compile(r"\s*<!doctype[^>]*>", re.IGNORECASE)
_MJML_RESET = re.compile(r'(<style type="text/css")>(?=\s*#outlook a)')
_EMPTY_MSO_FONT_BLOCK = re.compile(r"<!--\[if !mso\]><!-->\s*(?:<style type=\"text/css\">\s*</style>\s*)?<!--<!\[endif\]-->\s*")


def mjml_to_html(source: str, *, web_fonts: bool = False, origin: str = "layout") -> tuple[str, list[str]]:
    """Compile MJML to HTML with mjml-python.

    Unless ``web_fonts`` is on, any web-font ``<link>``/``@import`` that MJML
    adds is removed: it is a network fetch at every open and tells the font
    host who read the email. ``origin`` names the layout file in errors.
    """
    defer_unused_imports()  # BeautifulSoup's soupsieve and chardet
    from mjml import mjml_to_html as compile_mjml

    try:
        result = compile_mjml(source)
    except Exception as exc:  # mjml-python raises bare ValueError/AttributeError on bad input
        raise LayoutError(f"MJML could not compile it: {str(exc) or type(exc).__name__}", subject=origin) from None
    warnings = [str(error) for error in result.errors]
    html = result.html
    if not web_fonts:
        html = _FONT_IMPORT.sub("", _FONT_LINK.sub("", html))
    return html, warnings


def inline_css(html: str) -> tuple[str, list[str]]:
    """Inline CSS with premailer, never fetching anything.

    ``<style data-premailer="ignore">`` blocks (dark mode, media queries with
    ``!important``) are left exactly as written.
    """
    defer_unused_imports()  # premailer's requests
    from premailer import Premailer

    _skip_inline_style_validation()
    warnings: list[str] = []
    doctype = _DOCTYPE.match(html)
    # MJML's reset sheet (table/td/img/p defaults for Outlook and Gmail) belongs in the
    # head, as MJML writes it; inlined, it repeats on every table and cell.
    html = _MJML_RESET.sub(r'\1 data-premailer="ignore">', html, count=1)
    inliner = Premailer(
        html,
        allow_network=False,
        allow_loading_external_files=False,
        disable_validation=True,
        keep_style_tags=False,
        remove_classes=False,
        cssutils_logging_level=logging.CRITICAL,
        disable_link_rewrites=True,
        align_floating_images=False,  # re-parses every <img> style with validation on; no floats here
        # premailer would copy CSS into HTML attributes: width="100%" over MJML's pixel
        # width="600" (Outlook needs pixels), height="auto" and valign on <div>/<table>
        # (invalid), and align over a raw-HTML table's own alignment.
        disable_basic_attributes=["width", "height", "valign", "align"],
    )
    try:
        inlined = _INVALID_HEIGHT.sub(r"\1", inliner.transform())
    except Exception as exc:  # premailer/cssutils raise assorted errors on broken CSS
        raise LayoutError(f"CSS inlining failed: {exc}", subject="layout") from None
    # lxml drops the doctype; without it browser-based clients render in quirks mode.
    return (doctype.group(0).strip() + "\n" + inlined if doctype else inlined), warnings


def _skip_inline_style_validation() -> None:
    """Make premailer honour ``disable_validation`` for existing inline styles too.

    premailer 3.10's ``merge_styles`` parses every inline ``style=""`` with
    cssutils validation on, whatever ``disable_validation`` says; validating
    compiles cssutils' large property regexes, about 0.2 s of every compose.
    """
    import functools

    from premailer import merge_style

    original = merge_style.csstext_to_pairs
    if not isinstance(original, functools.partial):
        patched = functools.partial(original, validate=False)
        # The original looks its lock up under its module-level name; a partial takes attributes.
        patched._lock = original._lock  # type: ignore[attr-defined]
        merge_style.csstext_to_pairs = patched
