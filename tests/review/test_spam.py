"""``check --spam``: the real MIME message through a local SpamAssassin."""

from __future__ import annotations

import email
import email.policy
import re

import pytest

from newsletter.compose import compose_issue
from newsletter.compose.wrapping import display_width
from newsletter.review.spam import parse_report, sample_message, spam_check, spamassassin_path
from tests.compose.sample_issues import SAMPLE_NAMES, sample

needs_spamassassin = pytest.mark.skipif(spamassassin_path() is None, reason="SpamAssassin not installed: apt-get install spamassassin")

CANNED = """\
X-Spam-Status: No, score=1.7 required=5.0 tests=GB_FAKE_RF_SHORT,
\tHTML_FONT_LOW_CONTRAST,HTML_MESSAGE autolearn=disabled version=4.0.1
Subject: x

body
Content analysis details:   (1.7 points, 5.0 required)

 pts rule name              description
---- ---------------------- --------------------------------------------------
 0.7 HTML_FONT_LOW_CONTRAST BODY: HTML font color similar or
                            identical to background
 0.0 HTML_MESSAGE           BODY: HTML included in message
 1.0 GB_FAKE_RF_SHORT       Fake reply or forward with url shortener
"""


def test_parse_report():
    report = parse_report(CANNED)
    assert (report.score, report.required, report.version) == (1.7, 5.0, "4.0.1")
    assert [r.name for r in report.scoring_rules] == ["HTML_FONT_LOW_CONTRAST", "GB_FAKE_RF_SHORT"]
    assert report.rules[0].description == "BODY: HTML font color similar or identical to background"
    (finding,) = report.findings("issue.md")
    assert finding.code == "spam-score" and finding.severity == "warning"
    assert "1.7" in finding.message and "GB_FAKE_RF_SHORT" in finding.message


def test_sample_message_is_the_real_mime_message(settings):
    result = compose_issue(sample("raw-html"), settings)
    message = email.message_from_bytes(sample_message(result, settings), policy=email.policy.default)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" and message["Subject"] == "A word from our partner"
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(("html",)).get_content()
    assert "alert(" not in text and "console.log" not in text and "[Partner logo]" in text
    assert "\n-- \n" in text
    for line in text.splitlines():
        if not re.match(r"^\[\d+\] |^View in browser: |^Unsubscribe: ", line):
            assert display_width(line) <= 76, line
    widths = re.findall(r'<img\b[^>]*\swidth="([^"]*)"', html)
    assert widths and all(w.isdigit() and int(w) <= 600 for w in widths)
    assert len(widths) == len(re.findall(r"<img\b", html))


@needs_spamassassin
@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_samples_score_zero(settings, name):
    report = spam_check(compose_issue(sample(name), settings), settings)
    assert report.rules, "SpamAssassin reported no rules at all"
    assert report.score <= 0.0, [(r.name, r.points) for r in report.scoring_rules]
    assert "HTML_FONT_LOW_CONTRAST" not in {r.name for r in report.rules}


@needs_spamassassin
def test_check_spam_prints_score_and_rules(write_issue):
    from typer.testing import CliRunner

    from newsletter.cli import app

    result = CliRunner().invoke(app, ["check", str(sample("cjk-emoji")), "--spam"])
    assert result.exit_code == 0, result.output
    assert re.search(r"SpamAssassin [\d.]+: score -?0\.0 of 5\.0; rules: .*HTML_MESSAGE", result.stdout)
