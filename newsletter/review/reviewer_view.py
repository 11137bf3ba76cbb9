"""The email as a reviewer should see it: sample values filled, colour scheme forced.

Shared by the preview page and the screenshots so both show the same thing.
"""

from __future__ import annotations

import re

from newsletter.personalize import SAMPLE_VALUES, personalize

SCHEMES = ("light", "dark")

# A media feature that always matches, and one that never does (an iframe is
# never 0 px wide). Swapping them in keeps compound queries such as
# "screen and (prefers-color-scheme: dark)" valid.
_ALWAYS = "(min-width: 0px)"
_NEVER = "(max-width: 0px)"
_SCHEME_FEATURE = re.compile(r"\(\s*prefers-color-scheme\s*:\s*(light|dark)\s*\)", re.IGNORECASE)
_HEAD_END = re.compile(r"</head\s*>", re.IGNORECASE)


def sample_html(html: str) -> str:
    """The composed HTML with every placeholder filled from ``SAMPLE_VALUES``."""
    return personalize(html, SAMPLE_VALUES, is_html=True)


def sample_text(text: str) -> str:
    """The plain-text part with every placeholder filled from ``SAMPLE_VALUES``."""
    return personalize(text, SAMPLE_VALUES, is_html=False)


def force_color_scheme(html: str, scheme: str, *, extra_head: str = "") -> str:
    """``html`` rendered as if the reader's system were set to ``scheme``.

    Setting ``color-scheme`` on an ``<iframe>`` does not change what
    ``prefers-color-scheme`` reports inside it (checked in Chromium 156), so the
    preview rewrites the email itself: every ``(prefers-color-scheme: X)``
    feature becomes one that always matches when X is ``scheme`` and one that
    never matches otherwise, and the page's own ``color-scheme`` is pinned so
    the browser's default colours (canvas, form controls) follow too.
    ``extra_head`` is inserted at the end of ``<head>``.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown colour scheme {scheme!r}; expected one of {SCHEMES}")

    def swap(match: re.Match[str]) -> str:
        return _ALWAYS if match.group(1).lower() == scheme else _NEVER

    rewritten = _SCHEME_FEATURE.sub(swap, html)
    pin = f'<style data-preview="color-scheme">:root {{ color-scheme: only {scheme}; }}</style>{extra_head}'
    if _HEAD_END.search(rewritten):
        return _HEAD_END.sub(lambda m: pin + m.group(0), rewritten, count=1)
    return pin + rewritten
