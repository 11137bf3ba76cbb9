"""The preview app through its real ASGI stack (Starlette TestClient, no browser)."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from newsletter.cli import app as cli_app
from newsletter.compose.layout import BUILTIN_LAYOUTS
from newsletter.errors import ConfigError
from newsletter.review.preview import bind_socket, create_preview_app
from tests.helpers import wait_until


def _wait_for_new_version(client: TestClient, old: str, timeout: float = 30.0) -> dict:
    def new_version() -> dict | None:
        answer = client.get("/version").json()
        return answer if answer["version"] != old else None

    return wait_until(new_version, timeout, 0.1, f"no rebuild within {timeout} s")


def _watched(folder: Path) -> bool:
    """Whether this process has an inotify watch on ``folder``: from then on the watcher sees every change in it.

    Linux lists each watch of an inotify descriptor in /proc/self/fdinfo, as the watched folder's inode and
    device (the kernel's encoding: major << 20 | minor); watchfiles sets its watches up when ``awatch`` starts.
    """
    stat = folder.resolve().stat()
    wanted = f" ino:{stat.st_ino:x} sdev:{os.major(stat.st_dev) << 20 | os.minor(stat.st_dev):x} "
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify" and \
                    wanted in Path(f"/proc/self/fdinfo/{fd}").read_text():
                return True
        except OSError:  # a descriptor closed meanwhile
            continue
    return False


def test_page_shows_inbox_row_frames_text_and_checks(lab_issue, settings):
    with TestClient(create_preview_app(lab_issue, settings, watch=False)) as client:
        page = client.get("/")
        assert page.status_code == 200
        html = page.text
        assert 'id="subject">Autumn at the lab<' in html
        assert "Three new projects, one party and a call for volunteers" in html  # preheader
        assert 'width="375"' in html and 'width="600"' in html
        assert "email.html?scheme=light" in html
        assert "Hi Alex Example, this autumn" in html  # plain text with sample values
        assert "Newsletter" in html  # sender name from NEWSLETTER_FROM
        assert 'id="scheme-dark"' in html
        assert html.count('sandbox="allow-same-origin allow-popups') == 2 and "allow-scripts" not in html
        assert "did not build" not in html

        dark = client.get("/?scheme=dark").text
        assert "email.html?scheme=dark" in dark

        email = client.get("/email.html?scheme=dark")
        assert email.status_code == 200
        assert "prefers-color-scheme" not in email.text
        assert "color-scheme: only dark" in email.text
        assert "%%" not in email.text and "Alex Example" in email.text
        assert client.get("/email.html?scheme=light").text.count("(max-width: 0px)") >= 1
        assert "Hi Alex Example" in client.get("/email.txt").text
        assert client.get("/version").json()["ok"] is True


def test_findings_are_listed(write_issue, settings):
    issue = write_issue("# Hello\n\nA [placeholder](https://example.com/) link.\n")
    with TestClient(create_preview_app(issue, settings, watch=False)) as client:
        html = client.get("/").text
    assert 'id="findings"' in html
    assert "placeholder-link" in html
    assert "No problems found" not in html


def test_subject_is_escaped(write_issue, settings):
    issue = write_issue("Body text.\n", 'title: "<script>alert(1)</script> news"')
    with TestClient(create_preview_app(issue, settings, watch=False)) as client:
        html = client.get("/").text
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; news" in html


def test_compose_error_shows_on_page_and_server_keeps_serving(lab_issue, settings):
    app = create_preview_app(lab_issue, settings, watch=False)
    state = app.state.preview
    with TestClient(app) as client:
        good = client.get("/version").json()
        lab_issue.write_text("---\ntitle: [unclosed\n---\nBody\n", encoding="utf-8")
        state.rebuild()
        answer = client.get("/version").json()
        assert answer["ok"] is False and answer["version"] != good["version"]
        assert "malformed YAML frontmatter" in answer["error"]
        page = client.get("/")
        assert page.status_code == 200
        assert "The issue did not build." in page.text
        assert "malformed YAML frontmatter" in page.text
        assert "Showing the last good build" in page.text
        assert "Autumn at the lab" in page.text  # the last good build is still shown

        lab_issue.unlink()
        state.rebuild()
        assert "file not found" in client.get("/").text


def test_issue_broken_from_the_start_serves_an_error_page(write_issue, settings):
    issue = write_issue("", "title: [oops")
    with TestClient(create_preview_app(issue, settings, watch=False)) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert "The issue did not build." in page.text
        assert "Showing the last good build" not in page.text
        assert client.get("/email.html").status_code == 503


def test_watcher_rebuilds_when_issue_changes(lab_issue, settings):
    with TestClient(create_preview_app(lab_issue, settings)) as client:
        old = client.get("/version").json()["version"]
        wait_until(lambda: _watched(lab_issue.parent), message="the watcher never watched the issue's folder")
        lab_issue.write_text(lab_issue.read_text(encoding="utf-8").replace("Three new projects", "Four new projects"), encoding="utf-8")
        _wait_for_new_version(client, old)
        assert "Four new projects" in client.get("/email.txt").text


def test_watcher_rebuilds_when_layout_changes(lab_issue, settings, tmp_path):
    layouts = tmp_path / "layouts"
    shutil.copytree(BUILTIN_LAYOUTS / "default", layouts / "default")
    mine = settings.with_overrides(newsletter_layouts=str(layouts))
    with TestClient(create_preview_app(lab_issue, mine)) as client:
        old = client.get("/version").json()["version"]
        assert "Layout changed here" not in client.get("/email.txt").text
        template = layouts / "default" / "email.txt.j2"
        wait_until(lambda: _watched(template.parent), message="the watcher never watched the layout's folder")
        template.write_text("Layout changed here\n" + template.read_text(encoding="utf-8"), encoding="utf-8")
        _wait_for_new_version(client, old)
        assert "Layout changed here" in client.get("/email.txt").text


def test_port_in_use_is_a_config_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match="another --port"):
            bind_socket("127.0.0.1", port)


def test_cli_preview_missing_file_is_one_line(tmp_path):
    result = CliRunner().invoke(cli_app, ["preview", str(tmp_path / "nope.md")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "file not found" in lines[0]


def test_cli_preview_port_in_use_is_one_line(lab_issue):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli_app, ["preview", str(lab_issue), "--port", str(port)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0]
