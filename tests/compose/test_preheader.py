"""The preheader an inbox shows after the subject: the frontmatter's, else the body's first sentence."""

from __future__ import annotations

import re

from newsletter.compose import compose_issue
from newsletter.compose.markdown import PREHEADER_MAX
from newsletter.compose.pipeline import meta_dict

NO_PREHEADER = 'title: "December news"'


def hidden_preheader(html: str) -> str:
    """The text of the layout's hidden preheader, without the invisible padding after it."""
    match = re.search(r'<div class="nl-preheader"[^>]*>([^<]*)</div>', html)
    assert match, "no preheader element"
    return match.group(1).rstrip("\u034f\u200c\u00a0")


def test_without_a_preheader_the_first_sentence_of_the_body_is_used(write_issue, settings):
    path = write_issue("""
        ![The team on stage](https://news.harbour.test/img/stage.jpg)

        # Release 4.2

        **[READ THE NOTES >>](https://news.harbour.test/notes)**

        Release 4.2 is out, with *faster* imports and [a new theme](https://news.harbour.test/theme). It took a year.
        """, frontmatter=NO_PREHEADER)
    result = compose_issue(path, settings)
    expected = "Release 4.2 is out, with faster imports and a new theme."
    assert result.issue.preheader == expected
    assert hidden_preheader(result.html) == expected
    assert meta_dict(result)["preheader"] == expected
    assert "missing-preheader" not in {f.code for f in result.findings}


def test_the_frontmatter_preheader_wins(write_issue, settings):
    path = write_issue("First sentence. Second.\n")  # the fixture's frontmatter has seo.description
    result = compose_issue(path, settings)
    assert result.issue.preheader == "A test preheader" and hidden_preheader(result.html) == "A test preheader"


def test_a_long_first_sentence_is_cut_at_a_word(write_issue, settings):
    words = " ".join(f"word{i}" for i in range(60))
    path = write_issue(f"{words}, and the end.\n", frontmatter=NO_PREHEADER)
    preheader = compose_issue(path, settings).issue.preheader
    assert len(preheader) <= PREHEADER_MAX + 1 and preheader.endswith("\u2026")
    assert words.startswith(preheader[:-1]) and preheader[-2].isdigit()


def test_quotes_and_cjk_end_sentences_too(write_issue, settings):
    path = write_issue('She said "ship it." Then we did.\n', frontmatter=NO_PREHEADER)
    assert compose_issue(path, settings).issue.preheader == 'She said "ship it."'
    path = write_issue("今天发布了新版本。明天见。\n", frontmatter=NO_PREHEADER, name="cjk.md")
    assert compose_issue(path, settings).issue.preheader == "今天发布了新版本。"


def test_no_prose_at_all_still_warns(write_issue, settings):
    path = write_issue("![Only a picture](https://news.harbour.test/a.png)\n", frontmatter=NO_PREHEADER)
    result = compose_issue(path, settings)
    assert result.issue.preheader == "" and "missing-preheader" in {f.code for f in result.findings}
