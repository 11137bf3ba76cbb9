"""Every sample issue in a real Chromium at 320, 375 and 600 px, light and dark.

What a subscriber would notice: a page that scrolls sideways, text too
faint for its background (every text node is measured), right-to-left
paragraphs laid out left to right, tiny code, an unsubscribe link too small
to tap, an empty band at the top.
"""

from __future__ import annotations

import pytest

from newsletter.compose import compose_issue
from newsletter.review.reviewer_view import sample_html
from newsletter.review.screenshots import PAGE_URL
from tests.compose.sample_issues import SAMPLE_NAMES, sample, write_long_issue
from tests.review.helpers import contrast, png_bytes

pytestmark = pytest.mark.browser

WIDTHS = (320, 375, 600)
SCHEMES = ("light", "dark")
IMAGE = png_bytes(1200, 600)

#: [text, colour, background] of every visible text node: the background is that of
#: the nearest ancestor whose background colour is not transparent.
TEXT_COLOURS_JS = """
() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim();
    const el = node.parentElement;
    if (!text || !el || el.getClientRects().length === 0) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const box = range.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || getComputedStyle(el).visibility === "hidden") continue;
    let bg = el, colour = "rgb(255, 255, 255)";
    while (bg) {
      const c = getComputedStyle(bg).backgroundColor;
      if (c && c !== "transparent" && !/rgba\\(.*,\\s*0\\)$/.test(c)) { colour = c; break; }
      bg = bg.parentElement;
    }
    out.push([text.slice(0, 40), getComputedStyle(el).color, colour]);
  }
  return out;
}
"""


@pytest.fixture(scope="module")
def composed(tmp_path_factory):
    """HTML (sample values filled) of every sample, composed once for the module."""
    from newsletter.settings import load_settings

    settings = load_settings({}, env_file="/dev/null")
    folder = tmp_path_factory.mktemp("long")
    paths = {name: sample(name) for name in SAMPLE_NAMES} | {"long": write_long_issue(folder)}
    return {name: sample_html(compose_issue(path, settings).html) for name, path in paths.items()}


@pytest.fixture(scope="module")
def open_page(browser):
    """Open HTML at a width and colour scheme; images get a 1200 px PNG, anything else is aborted."""
    contexts = []

    def open_(html: str, width: int, scheme: str = "light", *, outlook_dark: bool = False):
        context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme, java_script_enabled=True)
        contexts.append(context)

        def handle(route):
            if route.request.url == PAGE_URL:
                route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)
            elif route.request.resource_type == "image":
                route.fulfill(status=200, content_type="image/png", body=IMAGE)
            else:
                route.abort("blockedbyclient")

        context.route("**/*", handle)
        page = context.new_page()
        page.goto(PAGE_URL, wait_until="load")
        if outlook_dark:  # what Outlook.com puts on the message when it darkens it
            page.evaluate("document.body.setAttribute('data-ogsc', ''); document.body.setAttribute('data-ogsb', '')")
        return page

    yield open_
    for context in contexts:
        context.close()


def _low_contrast(page) -> list:
    return [(text, fg, bg, round(contrast(fg, bg), 2)) for text, fg, bg in page.evaluate(TEXT_COLOURS_JS) if contrast(fg, bg) < 4.5]


@pytest.mark.parametrize("name", [*SAMPLE_NAMES, "long"])
@pytest.mark.parametrize("width", WIDTHS)
def test_no_sideways_scroll(composed, open_page, name, width):
    page = open_page(composed[name], width)
    widths = page.evaluate("({doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: innerWidth})")
    assert widths["view"] == width
    assert widths["doc"] <= width and widths["body"] <= width, widths


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_text_has_contrast(composed, open_page, name, width, scheme):
    page = open_page(composed[name], width, scheme)
    texts = page.evaluate(TEXT_COLOURS_JS)
    assert len(texts) > 10  # the walk found the email's text
    assert _low_contrast(page) == []


@pytest.mark.parametrize("name", ["code-and-tables", "raw-html", "mixed-directions"])
def test_outlook_com_dark_mode_keeps_contrast(composed, open_page, name):
    page = open_page(composed[name], 600, "light", outlook_dark=True)
    assert _low_contrast(page) == []
    card = page.evaluate("getComputedStyle(document.querySelector('.nl-card')).backgroundColor")
    assert contrast(card, "rgb(0, 0, 0)") < 2, card  # the card really went dark


def test_dark_mode_dims_rules_and_keeps_the_brand(composed, open_page):
    light = open_page(composed["code-and-tables"], 600, "light")
    dark = open_page(composed["code-and-tables"], 600, "dark")
    js = """() => ({
      rule: getComputedStyle(document.querySelector('.nl-rule p')).borderTopColor,
      cell: getComputedStyle(document.querySelector('.nl-table td')).borderTopColor,
      brand: getComputedStyle(document.querySelector('.nl-brand')).color,
      text: getComputedStyle(document.querySelector('.nl-text p')).color,
      card: getComputedStyle(document.querySelector('.nl-card')).backgroundColor })"""
    on, off = dark.evaluate(js), light.evaluate(js)
    for border in ("rule", "cell"):
        assert contrast(on[border], on["card"]) < 2.5, on  # a quiet line on the dark card, not a bright one
        assert on[border] != off[border]
    assert contrast(on["brand"], on["card"]) >= 4.5
    assert on["brand"] != on["text"]  # the brand keeps its own colour in the dark


@pytest.mark.parametrize("width", WIDTHS)
def test_right_to_left_blocks(composed, open_page, width):
    page = open_page(composed["mixed-directions"], width)
    blocks = page.evaluate(
        """() => [...document.querySelectorAll('.nl-text p, .nl-text li, .nl-text h1, .nl-text blockquote')].map(el => ({
             text: el.textContent.trim().slice(0, 20), dir: getComputedStyle(el).direction,
             align: getComputedStyle(el).textAlign }))"""
    )
    hebrew_or_arabic = [b for b in blocks if b["text"][:1] in "مشاثأالعن"]
    assert len(hebrew_or_arabic) >= 6, blocks
    for block in hebrew_or_arabic:
        assert block["dir"] == "rtl" and block["align"] in ("right", "start"), block
    english = [b for b in blocks if b["text"].startswith(("This month", "Third:", "Community"))]
    assert english and all(b["dir"] == "ltr" for b in english), english


def test_right_to_left_document(composed, open_page):
    page = open_page(composed["arabic"], 375)
    facts = page.evaluate(
        """() => ({
          html: document.documentElement.dir, lang: document.documentElement.lang,
          first: getComputedStyle(document.querySelector('.nl-text p')).direction,
          english: [...document.querySelectorAll('.nl-text p')].filter(p => p.textContent.startsWith('The release'))
                     .map(p => getComputedStyle(p).direction),
          code: getComputedStyle(document.querySelector('pre')).direction,
          cell: getComputedStyle(document.querySelector('.nl-table td')).direction })"""
    )
    assert facts == {"html": "rtl", "lang": "ar", "first": "rtl", "english": ["ltr"], "code": "ltr", "cell": "rtl"}


@pytest.mark.parametrize("width", (320, 375))
def test_code_is_readable_on_phones_and_scrolls_in_its_box(composed, open_page, width):
    page = open_page(composed["code-and-tables"], width)
    sizes = page.evaluate("[...document.querySelectorAll('pre, pre code, code')].map(el => parseFloat(getComputedStyle(el).fontSize))")
    assert sizes and min(sizes) >= 13, sizes
    boxes = page.evaluate(
        """[...document.querySelectorAll('pre, .nl-scroll')].map(el => ({client: el.clientWidth, scroll: el.scrollWidth,
             overflow: getComputedStyle(el).overflowX, right: el.getBoundingClientRect().right}))"""
    )
    assert any(box["scroll"] > box["client"] for box in boxes)  # the long URL line and the wide table do overflow …
    for box in boxes:
        assert box["right"] <= width  # … but inside their own box, which stays on the page
        assert box["scroll"] <= box["client"] or box["overflow"] in ("auto", "scroll"), box


def test_long_code_lines_wrap_at_spaces_not_inside_urls(composed, open_page):
    page = open_page(composed["code-and-tables"], 375)
    lines = page.evaluate(
        """() => { const code = document.querySelector('pre code'); const range = document.createRange();
                  const text = code.firstChild; const tops = new Map();
                  for (let i = 0; i < text.length; i++) { range.setStart(text, i); range.setEnd(text, i + 1);
                    const top = Math.round(range.getBoundingClientRect().top);
                    tops.set(top, (tops.get(top) || '') + text.data[i]); }
                  return [...tops.values()]; }"""
    )
    url = "https://registry.example.org/packages/toolchain/releases/stable/5.0.0/index.json"
    assert any(url in line for line in lines), lines  # the URL is never cut in two


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", WIDTHS)
def test_unsubscribe_is_a_real_tap_target(composed, open_page, width, scheme):
    page = open_page(composed["code-and-tables"], width, scheme)
    link = page.get_by_role("link", name="Unsubscribe")
    assert link.count() == 1
    box = link.bounding_box()
    assert box is not None and box["height"] >= 24 and box["width"] >= 44, box


def test_no_empty_band_without_a_web_version(open_page, write_issue, settings):
    # Not in the web archive either (else "View in browser" opens its archive page).
    issue = write_issue("# Hello\n\nNo web version for this one.\n", frontmatter="title: T\npreheader: p\narchive: none")
    page = open_page(sample_html(compose_issue(issue, settings).html), 375)
    top = page.evaluate("document.querySelector('.nl-card').getBoundingClientRect().top")
    assert top < 4, top
    assert page.get_by_text("View in browser").count() == 0


@pytest.mark.parametrize("width", WIDTHS)
def test_images_fit_the_column(composed, open_page, width):
    page = open_page(composed["raw-html"], width)
    rights = page.evaluate("[...document.querySelectorAll('img')].map(img => img.getBoundingClientRect().right)")
    assert rights and max(rights) <= width
