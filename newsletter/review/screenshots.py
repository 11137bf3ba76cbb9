"""``newsletter screenshot``: PNGs of a composed issue at phone and desktop widths,
in light and dark mode, taken by the system's headless Chromium via Playwright.

Playwright never downloads a browser here: it drives the Debian package
``chromium``. The page is served from memory and every other request is
aborted (or answered from a local file next to the issue), so taking
screenshots never touches the network.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from newsletter.errors import ConfigError, NewsletterError

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

    from newsletter.compose.model import ComposeResult, Finding
    from newsletter.settings import Settings

#: Phone and desktop widths, in CSS pixels.
WIDTHS = (375, 600)
SCHEMES: tuple[Literal["light", "dark"], ...] = ("light", "dark")
#: Where the email is "served" from inside the browser; never resolved on the network.
PAGE_URL = "http://newsletter.invalid/email.html"
#: Chromium flags: headless, no sandbox (containers, CI), and nothing that phones home.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
INSTALL_HINT = (
    "install the Debian package 'chromium' (apt-get install chromium) "
    "and the extra with pip install 'markdown-newsletter[screenshots]'"
)
_TIMEOUT_MS = 30_000


class BrowserError(ConfigError):
    """Screenshots need Chromium and Playwright, and one of them is missing."""


def chromium_path() -> str | None:
    """The system Chromium executable, or ``None`` when it is not installed."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


@contextmanager
def launch_browser(executable: str | None = None) -> Iterator[Browser]:
    """A headless Chromium (Playwright ``Browser``), closed on exit.

    Raises ``BrowserError`` with install instructions when the ``playwright``
    package or the Chromium executable is missing or cannot start.
    """
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BrowserError(f"the playwright package is not installed; {INSTALL_HINT}", subject="screenshots") from None
    path = executable or chromium_path()
    if not path or not os.access(path, os.X_OK):
        raise BrowserError(f"Chromium not found{f' at {path}' if path else ''}; {INSTALL_HINT}", subject="screenshots")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=path, args=list(CHROMIUM_ARGS), timeout=_TIMEOUT_MS)
        except PlaywrightError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BrowserError(f"Chromium at {path} did not start ({first}); {INSTALL_HINT}", subject="screenshots") from None
        try:
            yield browser
        finally:
            browser.close()


def local_files(result: ComposeResult) -> dict[str, Path]:
    """Image URLs of the issue that have a file next to the issue (relative ``src``)."""
    found: dict[str, Path] = {}
    base = Path(result.issue.path).parent
    for link in result.links:
        original = link.original.strip()
        if link.kind != "image" or not original or original.startswith("/") or urlsplit(original).scheme:
            continue
        candidate = base / original.split("?", 1)[0].split("#", 1)[0]
        if candidate.is_file():
            found[link.url] = candidate
    return found


def route_offline(page: Page, html: str, files: dict[str, Path] | None = None, url: str = PAGE_URL) -> None:
    """Serve ``html`` at ``url`` inside ``page``, ``files`` from disk, and abort everything else."""
    files = files or {}
    body = html.encode("utf-8")

    def handle(route: Route) -> None:
        requested = route.request.url
        if requested == url:
            route.fulfill(status=200, content_type="text/html; charset=utf-8", body=body)
        elif requested in files:
            route.fulfill(status=200, path=str(files[requested]))
        else:
            route.abort("blockedbyclient")

    page.route("**/*", handle)


def shot_name(slug: str, width: int, scheme: str) -> str:
    """File name of one screenshot: ``<slug>-<width>-<scheme>.png``."""
    return f"{slug}-{width}-{scheme}.png"


def capture(result: ComposeResult, out_dir: Path, *, executable: str | None = None) -> list[Path]:
    """Write full-page PNGs of ``result`` (a ``ComposeResult``) to ``out_dir``.

    One per width in ``WIDTHS`` and scheme in ``SCHEMES`` (``prefers-color-scheme``
    emulated), named ``<slug>-375-light.png`` etc.; sample values fill the
    placeholders and scripts are off, as in mail clients. Returns the paths.
    """
    if _loop_running():
        # Playwright's sync API refuses to run inside an event loop; a worker thread has none.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(capture, result, out_dir, executable=executable).result()
    from newsletter.review.reviewer_view import sample_html

    out = Path(out_dir)
    html = sample_html(result.html)
    files = local_files(result)
    written: list[Path] = []
    with launch_browser(executable) as browser:  # first, so a missing browser leaves nothing behind
        from playwright.sync_api import Error as PlaywrightError

        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NewsletterError(f"cannot create the folder: {exc.strerror or exc}", subject=str(out)) from None

        for width in WIDTHS:
            for scheme in SCHEMES:
                target = out / shot_name(result.issue.slug, width, scheme)
                context = browser.new_context(
                    viewport={"width": width, "height": 800},
                    color_scheme=scheme,
                    java_script_enabled=False,
                    device_scale_factor=1,
                )
                try:
                    page = context.new_page()
                    route_offline(page, html, files)
                    page.goto(PAGE_URL, wait_until="load", timeout=_TIMEOUT_MS)
                    page.screenshot(path=str(target), full_page=True, timeout=_TIMEOUT_MS)
                except PlaywrightError as exc:
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    raise NewsletterError(f"Chromium could not take the screenshot: {first}", subject=str(target)) from None
                finally:
                    context.close()
                written.append(target)
    return written


def _loop_running() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def screenshot_issue(issue_path: str | Path, settings: Settings, out_dir: str | Path) -> tuple[list[Path], list[Finding]]:
    """Compose the issue at ``issue_path`` and ``capture`` it into ``out_dir``.

    Returns the PNG paths and ``missing-glyph`` warnings for characters no
    installed font can draw (they show as boxes in the screenshots).
    """
    from newsletter.compose import compose_issue
    from newsletter.review.glyphs import glyph_findings

    result = compose_issue(issue_path, settings)
    paths = capture(result, Path(out_dir))
    return paths, glyph_findings(result.html, str(result.issue.path))
