"""Per-recipient values in a composed issue.

Compose leaves placeholders such as ``%%unsubscribe_url%%`` in the HTML and
text; delivery fills them per recipient with ``personalize``. The fill is a
single pass, so a value that itself contains a placeholder is never expanded
again, and values are HTML-escaped for the HTML part: subscriber data can
never inject markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

#: Every per-recipient field a layout or issue may use.
#: ``name`` and ``first_name`` come first (the SendGrid backend relies on the order).
RECIPIENT_FIELDS = ("name", "first_name", "email", "unsubscribe_url", "web_url", "preferences_url")

#: Used where a subscriber has no name ("Hi there,"), for ``name`` and ``first_name`` alike.
NAME_FALLBACK = "there"
_NAMED = ("name", "first_name")

#: Values shown in previews, screenshots and test sends.
SAMPLE_VALUES = {
    "name": "Alex Example",
    "first_name": "Alex",
    "email": "alex@example.org",
    "unsubscribe_url": "https://example.org/u/sample-token",
    "web_url": "",
    "preferences_url": "https://example.org/p/sample-token",
}

_PLACEHOLDER = re.compile(r"%%(" + "|".join(RECIPIENT_FIELDS) + r")%%")
_ANY_PLACEHOLDER = re.compile(r"%%([A-Za-z_][A-Za-z0-9_]*)%%")


def first_name(name: str) -> str:
    """The first word of ``name`` ("Emeka Okafor" -> "Emeka"); '' for no name."""
    words = name.split(None, 1)
    return words[0] if words else ""


def has_placeholder(text: str) -> bool:
    """True when ``text`` holds a recipient placeholder (such as ``%%first_name%%``)."""
    return _PLACEHOLDER.search(text) is not None


def unknown_placeholders(text: str) -> list[str]:
    """``%%word%%`` markers in ``text`` that name no recipient field (a typo such as ``%%frist_name%%``)."""
    return [m for m in dict.fromkeys(_ANY_PLACEHOLDER.findall(text)) if m not in RECIPIENT_FIELDS]


def placeholder(field: str) -> str:
    """The placeholder text for ``field`` (one of ``RECIPIENT_FIELDS``)."""
    if field not in RECIPIENT_FIELDS:
        raise ValueError(f"unknown recipient field {field!r}")
    return f"%%{field}%%"


def placeholders() -> dict[str, str]:
    """Mapping of every recipient field to its placeholder, for templates."""
    return {field: placeholder(field) for field in RECIPIENT_FIELDS}


def personalize(content: str, values: Mapping[str, str], *, is_html: bool) -> str:
    """Fill every placeholder in ``content`` from ``values``.

    A missing or empty ``name`` or ``first_name`` becomes ``NAME_FALLBACK``
    (``first_name`` missing from ``values`` is the first word of ``name``);
    other missing values become empty. In HTML, values are escaped (quotes included, since they may
    land in attributes).
    """

    def value(match: re.Match[str]) -> str:
        field = match.group(1)
        raw = values.get(field) or ""
        if field == "first_name" and "first_name" not in values:
            raw = first_name(values.get("name") or "")
        if field in _NAMED and not raw.strip():
            raw = NAME_FALLBACK
        return html.escape(raw, quote=True) if is_html else raw

    return _PLACEHOLDER.sub(value, content)
