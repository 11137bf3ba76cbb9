"""The reviewer's view of the email: sample values and a forced colour scheme."""

from __future__ import annotations

import pytest

from newsletter.review.reviewer_view import force_color_scheme, sample_html, sample_text

EMAIL = """<html><head><style>
body { background: #fff; }
@media (prefers-color-scheme: dark) { body { background: #000 !important; } }
@media only screen and ( prefers-color-scheme : light ) and (max-width: 480px) { p { color: #111; } }
</style></head><body><p>Hi %%name%%</p></body></html>"""


def test_dark_makes_dark_rules_unconditional_and_light_rules_dead():
    html = force_color_scheme(EMAIL, "dark")
    assert "prefers-color-scheme" not in html
    assert "@media (min-width: 0px) { body { background: #000 !important; } }" in html
    assert "only screen and (max-width: 0px) and (max-width: 480px)" in html
    assert html.index("color-scheme: only dark") < html.index("</head>")


def test_light_makes_dark_rules_dead():
    html = force_color_scheme(EMAIL, "light")
    assert "@media (max-width: 0px) { body { background: #000 !important; } }" in html
    assert "only screen and (min-width: 0px) and (max-width: 480px)" in html
    assert "color-scheme: only light" in html


def test_extra_head_and_documents_without_head():
    assert '<base target="_blank"></head>' in force_color_scheme(EMAIL, "light", extra_head='<base target="_blank">')
    bare = force_color_scheme("<p>x</p>", "dark")
    assert bare.endswith("<p>x</p>") and "only dark" in bare


def test_unknown_scheme_is_refused():
    with pytest.raises(ValueError):
        force_color_scheme(EMAIL, "sepia")


def test_samples_fill_placeholders_and_escape_html():
    assert "Hi Alex Example" in sample_html(EMAIL)
    assert "%%" not in sample_html(EMAIL)
    assert sample_text("Unsubscribe: %%unsubscribe_url%%") == "Unsubscribe: https://example.org/u/sample-token"
