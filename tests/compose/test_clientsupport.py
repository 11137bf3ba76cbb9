"""The offline email-client support check against the vendored caniemail data."""

from __future__ import annotations

import hashlib
import json

from newsletter.compose import compose_issue
from newsletter.compose.clientsupport import (
    DATA,
    check_client_support,
    lacking_clients,
    read_acknowledged,
    used_features,
)
from newsletter.compose.layout import BUILTIN_LAYOUTS

PARTNER_HTML = """
<div style="display:flex; gap:8px; box-shadow: 0 1px 2px #ccc">
  <svg width="10" height="10"></svg>
  <img src="https://img.example.com/logo.webp" alt="Logo" width="100">
  <p style="position:absolute">Free trial</p>
</div>
"""


def test_the_vendored_data_is_recorded_beside_it():
    folder = DATA.parent
    source = (folder / "SOURCE.md").read_text(encoding="utf-8")
    assert hashlib.sha256(DATA.read_bytes()).hexdigest() in source  # the file is the one recorded
    assert "MIT" in (folder / "LICENSE").read_text(encoding="utf-8")
    data = json.loads(DATA.read_text(encoding="utf-8"))
    assert data["last_update_date"][:10] in source
    assert len(data["data"]) > 250


def test_features_are_found_in_styles_markup_and_images():
    used = used_features(f"<html><head><style>@media (prefers-color-scheme: dark) {{ a:hover {{ color: red }} }}</style></head><body>{PARTNER_HTML}</body></html>")
    for slug in ("css-display-flex", "css-gap", "css-box-shadow", "css-position", "html-svg", "image-webp", "css-at-media",
                 "css-at-media-prefers-color-scheme", "css-pseudo-class-hover", "html-style"):
        assert slug in used, slug
    assert "css-display-flex" not in used_features("<!--[if mso]><div style='display:flex'></div><![endif]--><p>x</p>")


def test_lacking_clients_come_from_the_data():
    assert "Outlook on Windows" in lacking_clients("css-display-flex")
    assert lacking_clients("css-padding") == []


def test_raw_html_features_some_clients_lack_are_warnings_naming_them(write_issue, settings):
    result = compose_issue(write_issue(f"# Partner\n\n{PARTNER_HTML}\n"), settings)
    found = {f.code: f for f in result.findings if f.code.startswith("caniemail-")}
    assert {"caniemail-css-display-flex", "caniemail-css-box-shadow", "caniemail-css-position"} <= set(found)
    flex = found["caniemail-css-display-flex"]
    assert flex.severity == "warning" and "Outlook on Windows" in flex.message
    assert "https://www.caniemail.com/features/css-display-flex/" in flex.message
    assert result.errors == []


def test_the_default_layout_acknowledges_what_it_uses_on_purpose(example_issue, settings):
    acknowledged = read_acknowledged(BUILTIN_LAYOUTS / "default")
    assert {"css-at-media", "css-at-media-prefers-color-scheme"} <= acknowledged
    html = compose_issue(example_issue, settings).html
    assert check_client_support(html, "x", acknowledged) == []
    assert check_client_support(html, "x", set())  # without the list the layout's features are reported
