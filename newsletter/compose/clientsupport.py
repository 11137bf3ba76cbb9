"""Email-client support, offline: which features of the final HTML some clients lack.

The HTML elements and attributes, CSS properties, at-rules, selectors,
units and image formats the email uses are looked up in the vendored
caniemail data (``data/caniemail/``: source, version and licence recorded
there). A feature that Gmail, Outlook on Windows, Apple Mail, Yahoo Mail or
Samsung Email does not support at all gives one warning with the stable code
``caniemail-<feature>`` (``caniemail-css-display-flex``) naming the clients.

A layout lists the features it uses on purpose, knowing some clients lack
them (media queries, dark mode), in ``client-support.txt`` beside its
templates; those are not reported. Outlook's conditional comments hold
Outlook's own markup and are not judged.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Collection
from functools import lru_cache
from pathlib import Path

from newsletter.compose.model import WARNING, Finding

DATA = Path(__file__).resolve().parent / "data" / "caniemail" / "caniemail.json"
#: The layout file listing features it uses knowingly, one caniemail slug per line.
ACKNOWLEDGED_FILE = "client-support.txt"
#: The clients judged, each with the caniemail (family, platform) pairs it stands for.
CLIENTS = {
    "Gmail": (("gmail", "desktop-webmail"), ("gmail", "ios"), ("gmail", "android")),
    "Outlook on Windows": (("outlook", "windows"),),
    "Apple Mail": (("apple-mail", "macos"), ("apple-mail", "ios")),
    "Yahoo Mail": (("yahoo", "desktop-webmail"), ("yahoo", "ios"), ("yahoo", "android")),
    "Samsung Email": (("samsung-email", "android"),),
}

_CONDITIONAL = re.compile(r"<!--\[if.*?<!\[endif\]-->", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_STYLE_BLOCK = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.IGNORECASE | re.DOTALL)
_START_TAG = re.compile(r"<([a-zA-Z][\w:-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>")
_ATTRIBUTE = re.compile(r"""([\w:-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_UNIT = re.compile(r"(?<![\w#.-])\d*\.?\d+(rem|em|ex|ch|vh|vw|vmin|vmax|pt|pc|cm|mm|in)\b", re.IGNORECASE)
_FUNCTION = re.compile(r"\b(calc|var|min|max|clamp|linear-gradient|radial-gradient|conic-gradient|light-dark)\(", re.IGNORECASE)
_PSEUDO = re.compile(r"(::?)([a-zA-Z-]+)")
_IMAGE_EXTENSION = re.compile(r"\.(svg|webp|avif|gif|bmp|ico|tiff?|heic|heif|apng)(?:[?#]|$)", re.IGNORECASE)

#: Elements whose caniemail slug is not simply ``html-<tag>``.
_ELEMENT_SLUGS = {
    **{f"h{n}": "html-h1-h6" for n in range(1, 7)},
    **{tag: "html-lists" for tag in ("ul", "ol", "li", "dl", "dt", "dd")},
    **{tag: "html-semantics" for tag in ("article", "aside", "details", "figcaption", "figure", "footer", "header", "main", "mark", "nav", "section", "summary", "time")},
    "s": "html-strike", "strike": "html-strike", "a": "", "b": "html-strong",
}
_ATTRIBUTE_SLUGS = {
    "dir": "html-dir", "lang": "html-lang", "role": "html-role", "valign": "html-valign", "align": "html-align",
    "width": "html-width", "height": "html-height", "cellpadding": "html-cellpadding",
    "cellspacing": "html-cellspacing", "background": "html-background", "srcset": "html-srcset",
    "loading": "html-loading-attribute", "target": "html-target", "hidden": "html-hidden",
    "required": "html-required", "popover": "html-popover", "inert": "css-inert-attribute",
}
_DISPLAY_SLUGS = {"flex": "css-display-flex", "inline-flex": "css-display-flex", "grid": "css-display-grid", "inline-grid": "css-display-grid", "none": "css-display-none"}


@lru_cache(maxsize=1)
def _features() -> dict[str, dict]:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    return {feature["slug"]: feature for feature in data["data"]}


def data_version() -> str:
    """The vendored data's ``last_update_date``."""
    return json.loads(DATA.read_text(encoding="utf-8")).get("last_update_date", "")


def lacking_clients(slug: str) -> list[str]:
    """The judged clients whose latest test of feature ``slug`` says "not supported"."""
    stats = _features()[slug].get("stats") or {}
    lacking = []
    for client, platforms in CLIENTS.items():
        for family, platform in platforms:
            versions = (stats.get(family) or {}).get(platform) or {}
            if versions and str(list(versions.values())[-1]).startswith("n"):
                lacking.append(client)
                break
    return lacking


def used_features(html: str) -> Counter[str]:
    """The caniemail slugs of what ``html`` uses, with how often (outside Outlook's conditional comments)."""
    known = _features()
    html = _COMMENT.sub("", _CONDITIONAL.sub("", html))
    found: Counter[str] = Counter()

    def add(slug: str) -> None:
        if slug in known:
            found[slug] += 1

    for css in _STYLE_BLOCK.findall(html):
        add("html-style")
        _css_features(css, add, sheet=True)
    for match in _START_TAG.finditer(html):
        tag = match.group(1).lower()
        add(_ELEMENT_SLUGS.get(tag, f"html-{tag}"))
        for attribute in _ATTRIBUTE.finditer(match.group(2)):
            name = attribute.group(1).lower()
            value = next((g for g in attribute.groups()[1:] if g is not None), "")
            if name == "style":
                _css_features(value, add, sheet=False)
            elif name.startswith("aria-"):
                add(f"html-{name}")
            elif name in _ATTRIBUTE_SLUGS:
                add(_ATTRIBUTE_SLUGS[name])
            elif name == "href" and value.startswith("#") and len(value) > 1:
                add("html-anchor-links")
            elif name == "href" and value.lower().startswith("mailto:"):
                add("html-mailto-links")
            elif name == "src" and tag == "img":
                image = _IMAGE_EXTENSION.search(value)
                if value.startswith("data:"):
                    add("image-base64")
                elif image:
                    extension = image.group(1).lower()
                    add("image-" + ("tiff" if extension == "tif" else extension))
    return found


def _css_features(css: str, add: Callable[[str], None], *, sheet: bool) -> None:
    import tinycss2

    nodes = tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True) if sheet else None
    if nodes is None:
        _declarations(css, add)
        return
    for rule in nodes:
        if rule.type == "at-rule":
            keyword = rule.lower_at_keyword
            prelude = tinycss2.serialize(rule.prelude)
            add(f"css-at-{keyword}")
            for feature in ("prefers-color-scheme", "prefers-reduced-motion", "orientation", "hover"):
                if feature in prelude:
                    add(f"css-at-media-{feature}")
            if "device-pixel-ratio" in prelude or "resolution" in prelude:
                add("css-at-media-device-pixel-ratio")
            if rule.content is not None:
                _css_features(tinycss2.serialize(rule.content), add, sheet=keyword in ("media", "supports"))
        elif rule.type == "qualified-rule":
            _selector_features(tinycss2.serialize(rule.prelude), add)
            _declarations(tinycss2.serialize(rule.content), add)


def _selector_features(selectors: str, add: Callable[[str], None]) -> None:
    if "," in selectors:
        add("css-selector-grouping")
    for marker, slug in (("[", "css-selector-attribute"), (">", "css-selector-child"), ("+", "css-selector-adjacent-sibling"), ("~", "css-selector-general-sibling"), ("*", "css-selector-universal"), ("#", "css-selector-id")):
        if marker in selectors:
            add(slug)
    for colons, name in _PSEUDO.findall(selectors):
        add(("css-pseudo-element-" if colons == "::" or name in ("before", "after") else "css-pseudo-class-") + name.lower())


def _declarations(block: str, add: Callable[[str], None]) -> None:
    for declaration in block.split(";"):
        name, _, value = declaration.partition(":")
        name, value = name.strip().lower(), value.strip()
        if not name or not value or name.startswith(("-", "mso-")):
            continue  # vendor-prefixed and Outlook-only properties are clients' own
        add(_property_slug(name, value))
        if "!important" in value:
            add("css-important")
        for unit in _UNIT.findall(value):
            add(f"css-unit-{unit.lower()}")
        for function in _FUNCTION.findall(value):
            function = function.lower()
            add(f"css-{function}" if function.endswith("gradient") else "css-variables" if function == "var" else "css-unit-calc" if function == "calc" else f"css-function-{function}")


def _property_slug(name: str, value: str) -> str:
    if name == "display":
        return _DISPLAY_SLUGS.get(value.split("!")[0].strip().lower(), "css-display")
    if "radius" in name:
        return "css-border-radius"
    slug = f"css-{name}"
    known = _features()
    while slug not in known and slug.count("-") > 1:  # border-top-color -> border-top -> border
        slug = slug.rsplit("-", 1)[0]
    return slug


def read_acknowledged(layout_folder: Path) -> set[str]:
    """The feature slugs a layout's ``client-support.txt`` lists (``#`` starts a comment)."""
    path = Path(layout_folder) / ACKNOWLEDGED_FILE
    if not path.is_file():
        return set()
    return {line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines()} - {""}


def check_client_support(html: str, where: str, acknowledged: Collection[str] = frozenset()) -> list[Finding]:
    """One ``caniemail-<feature>`` warning per feature of ``html`` a judged client lacks."""
    findings = []
    for slug, count in sorted(used_features(html).items()):
        if slug in acknowledged:
            continue
        lacking = lacking_clients(slug)
        if lacking:
            feature = _features()[slug]
            times = f"{count} time{'s' if count > 1 else ''}"
            findings.append(
                Finding(
                    f"caniemail-{slug}",
                    WARNING,
                    f"{feature['title']} (used {times}) is not supported by {', '.join(lacking)}: {feature['url']}",
                    where,
                )
            )
    return findings
