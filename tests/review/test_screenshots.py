"""``newsletter screenshot``: four PNGs at the right widths, no network, clear errors."""

from __future__ import annotations

import asyncio
import http.server
import sys
import threading

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.compose import compose_issue
from newsletter.errors import ConfigError
from newsletter.review import screenshots
from newsletter.review.screenshots import BrowserError, capture
from tests.review.helpers import png_bytes, png_size


@pytest.mark.browser
def test_capture_writes_four_pngs_at_the_right_widths(needs_chromium, lab_issue, settings, tmp_path):
    result = compose_issue(lab_issue, settings)
    paths = capture(result, tmp_path / "shots")
    slug = result.issue.slug
    assert [p.name for p in paths] == [
        f"{slug}-375-light.png",
        f"{slug}-375-dark.png",
        f"{slug}-600-light.png",
        f"{slug}-600-dark.png",
    ]
    for path in paths:
        assert path.parent == tmp_path / "shots"
        width, height = png_size(path)
        assert width == int(path.name.split("-")[-2])
        assert height >= 400  # full page: the whole email, not an empty viewport
    light, dark = (tmp_path / "shots" / f"{slug}-375-{s}.png" for s in ("light", "dark"))
    assert light.read_bytes() != dark.read_bytes()


@pytest.mark.browser
def test_capture_never_touches_the_network_but_serves_local_images(needs_chromium, write_issue, settings, tmp_path):
    hits: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(png_bytes(10, 10))

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        remote = f"http://127.0.0.1:{server.server_port}/tracker.png"
        (tmp_path / "local.png").write_bytes(png_bytes(300, 100, (10, 200, 10)))
        issue = write_issue(f"# Hi\n\n![remote]({remote})\n\n![local](local.png)\n\n[link]({remote}?x=1)\n")
        result = compose_issue(issue, settings)
        local = [link for link in result.links if link.original == "local.png"]
        assert local, "compose recorded the local image"
        assert screenshots.local_files(result) == {local[0].url: tmp_path / "local.png"}
        paths = capture(result, tmp_path / "shots")
        assert len(paths) == 4
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert hits == []


def test_missing_chromium_is_a_config_error(lab_issue, settings, tmp_path):
    result = compose_issue(lab_issue, settings)
    with pytest.raises(BrowserError, match="apt-get install chromium") as caught:
        capture(result, tmp_path / "shots", executable=str(tmp_path / "no-chromium"))
    assert isinstance(caught.value, ConfigError) and caught.value.exit_code == 2


def test_missing_playwright_is_a_config_error(lab_issue, settings, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)  # import now fails
    result = compose_issue(lab_issue, settings)
    with pytest.raises(BrowserError, match=r"playwright package is not installed.*newsletter\[screenshots\]"):
        capture(result, tmp_path / "shots")


def test_cli_without_chromium_says_how_to_install_and_exits_2(lab_issue, tmp_path, monkeypatch):
    monkeypatch.setattr(screenshots, "chromium_path", lambda: None)
    result = CliRunner().invoke(app, ["screenshot", str(lab_issue), "--out", str(tmp_path / "shots")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "apt-get install chromium" in lines[0] and "Traceback" not in result.output
    assert not list((tmp_path / "shots").glob("*.png"))


def test_cli_missing_issue_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["screenshot", str(tmp_path / "nope.md"), "--out", str(tmp_path / "shots")])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "file not found" in result.stderr


@pytest.mark.browser
def test_cli_screenshot_prints_the_four_paths(needs_chromium, lab_issue, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["screenshot", str(lab_issue)])
    assert result.exit_code == 0, result.output
    printed = result.stdout.strip().splitlines()
    assert len(printed) == 4
    for line in printed:
        assert line.startswith("screenshots/") and line.endswith(".png")
        assert png_size(tmp_path / line)[0] in (375, 600)


@pytest.mark.browser
def test_capture_works_inside_an_event_loop(needs_chromium, lab_issue, settings, tmp_path):
    result = compose_issue(lab_issue, settings)

    async def from_async_code():
        return capture(result, tmp_path)

    paths = asyncio.run(from_async_code())
    assert sorted(png_size(p)[0] for p in paths) == [375, 375, 600, 600]
