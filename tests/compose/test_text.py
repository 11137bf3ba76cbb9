"""Stage 3: the plain-text twin."""

import re

from newsletter.compose import compose_issue


def test_text_shape(write_issue, settings):
    path = write_issue(
        """
        # Section &amp; One

        Some *emphasis*, `code` and a [link](https://a.example.com/x) and the [same link](https://a.example.com/x).

        * first item with a rather long text that certainly needs to be wrapped somewhere around here ok
          * nested [item](https://b.example.com/)
        * second&nbsp;item

        1. one
        2. two

        > quoted

        ```
        code block line that is long and must not be wrapped at all because it is code, no no no
        ```
        """
    )
    text = compose_issue(path, settings).text
    assert "Section & One\n=============" in text
    assert "link [1] and the same link [1]" in text  # one URL, one reference number
    assert "* first item with a rather long text" in text
    assert "\n  * nested item [2]" in text
    assert "* second\u00a0item" in text  # &nbsp; decoded
    assert "1. one\n2. two" in text
    assert "> quoted" in text
    assert "    code block line that is long and must not be wrapped at all because it is code, no no no" in text
    assert "[1] https://a.example.com/x?utm_source=newsletter" in text
    for line in text.splitlines():
        if not re.match(r"^\[\d+\] |^ {4}|^View in browser: ", line):
            assert len(line) <= 76, line
    for syntax in ("**", "](", "<a ", "&amp;", "&nbsp;", "```"):
        assert syntax not in text


def test_example_text_has_every_link_and_heading(example_issue, settings):
    result = compose_issue(example_issue, settings)
    for link in result.links:
        if link.kind == "link":
            assert link.url in result.text
    for title in ("Harbour Summit Videos Now Available", "Project News", "Upcoming Community Events"):
        assert title in result.text
    assert "%%unsubscribe_url%%" in result.text
