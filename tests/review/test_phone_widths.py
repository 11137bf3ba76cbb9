"""The composed email on the narrowest phones, in a real Chromium: tables fit the column, and the
footer's links never leave "· View in browser" on a line of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.compose import compose_issue
from newsletter.review.reviewer_view import sample_html
from newsletter.review.screenshots import PAGE_URL, route_offline

pytestmark = pytest.mark.browser
SAMPLES = Path(__file__).resolve().parents[1] / "compose" / "samples"

FRONTMATTER = 'title: "Summit programme"\npreheader: Who speaks when.\nseo:\n  url: https://news.harbour.test/blog/summit'
PROGRAMME = """
# Programme

| Session | Speaker | Room | Time |
|---------|---------|------|------|
| Opening keynote: the state of the harbour | Amara Okafor | Main hall | 09:00–09:45 |
| Building resilient pipelines | Jonas Lindqvist | Room B | 10:00–10:30 |
| Questions from the community | Everyone | Main hall | 10:45–11:30 |
"""

TABLES_JS = """() => [...document.querySelectorAll('table.nl-table')].map(table => {
  const box = table.parentElement.getBoundingClientRect();
  const cells = [...table.querySelectorAll('th, td')].map(c => c.getBoundingClientRect());
  return {scroll: table.parentElement.scrollWidth, client: table.parentElement.clientWidth,
          right: Math.max(...cells.map(c => c.right)), boxRight: box.right};
})"""
FOOTER_JS = """() => [...document.querySelectorAll('.nl-footer a')].map(a => {
  const r = a.getBoundingClientRect();
  return {text: a.textContent.trim(), top: Math.round(r.top), height: r.height};
})"""
SEPARATORS_JS = """() => [...document.querySelectorAll('.nl-footer p')].filter(p => p.querySelector('a'))
  .map(p => p.innerText)"""


@pytest.fixture
def open_issue(browser, settings):
    """Compose an issue file and open it at a width; returns the page."""
    contexts = []

    def open_(path: Path, width: int):
        html = sample_html(compose_issue(path, settings).html)
        context = browser.new_context(viewport={"width": width, "height": 800})
        contexts.append(context)
        page = context.new_page()
        route_offline(page, html)
        page.goto(PAGE_URL, wait_until="load")
        return page

    yield open_
    for context in contexts:
        context.close()


@pytest.mark.parametrize("width", [320, 375])
def test_tables_fit_the_phone_column(open_issue, write_issue, width):
    for path in (write_issue(PROGRAMME, FRONTMATTER), SAMPLES / "code-and-tables.md"):  # 4 columns; 7
        page = open_issue(path, width)
        tables = page.evaluate(TABLES_JS)
        assert tables, path
        for table in tables:  # nothing hidden in a scroll box, no cell past the column's edge
            assert table["scroll"] <= table["client"], (path.name, table)
            assert table["right"] <= table["boxRight"] + 0.5, (path.name, table)
        assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_a_table_that_fits_keeps_its_words_whole_at_320(open_issue, write_issue):
    page = open_issue(write_issue(PROGRAMME, FRONTMATTER), 320)
    # Each word of the cells is on one line: a cell's text is never split inside a word.
    split = page.evaluate("""() => {
      const broken = [];
      for (const cell of document.querySelectorAll('table.nl-table td, table.nl-table th')) {
        const range = document.createRange(); const text = cell.firstChild;
        if (!text || text.nodeType !== 3) continue;
        for (const match of text.data.matchAll(/[^\\s\\u2013]+\\u2013?/g)) {
          range.setStart(text, match.index); range.setEnd(text, match.index + match[0].length);
          if (range.getClientRects().length > 1) broken.push(match[0]);
        }
      }
      return broken; }""")
    assert split == []


@pytest.mark.parametrize("width", [320, 375])
def test_phone_footer_links_stack_without_separators(open_issue, write_issue, width):
    page = open_issue(write_issue(PROGRAMME, FRONTMATTER), width)
    links = page.evaluate(FOOTER_JS)
    assert [link["text"] for link in links] == ["Unsubscribe", "Manage your subscription", "View in browser"]
    tops = [link["top"] for link in links]
    assert tops == sorted(tops) and len(set(tops)) == 3, links  # one link a line, never two and then one
    assert all(link["height"] >= 32 for link in links), links  # easy to tap
    assert "\u00b7" not in "".join(page.evaluate(SEPARATORS_JS))  # no dot left at a line's start or end


def test_desktop_footer_links_share_one_line(open_issue, write_issue):
    page = open_issue(write_issue(PROGRAMME, FRONTMATTER), 600)
    links = page.evaluate(FOOTER_JS)
    assert len({link["top"] for link in links}) == 1, links
    assert page.evaluate(SEPARATORS_JS)[0].count("\u00b7") == 2
