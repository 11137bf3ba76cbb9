"""Fixtures for the review tests: small issue files, a real Chromium
and a real preview server on a loopback port."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.review.helpers import ISSUE_BODY, ISSUE_FRONTMATTER


@pytest.fixture
def lab_issue(write_issue) -> Path:
    """A small issue shaped like the team's: frontmatter, hero, two H1 sections, links, CTA."""
    return write_issue(ISSUE_BODY, ISSUE_FRONTMATTER, name="2026-11-02-autumn-at-the-lab.md")


@pytest.fixture
def preview_server(settings):
    """Start the real preview server (uvicorn) for an issue on a free loopback port.

    Call it with the issue path (and optionally settings); returns the page URL.
    The server is stopped and its thread joined at teardown.
    """
    from newsletter.review.preview import bind_socket, make_server, url_of

    running: list[tuple[object, threading.Thread, object]] = []

    def start(issue: Path, server_settings=None) -> str:
        server = make_server(issue, server_settings or settings)
        sock = bind_socket("127.0.0.1", 0)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        wait_until(lambda: server.started, 30, 0.05, "the preview server did not start within 30 s",
                   abort=lambda: None if thread.is_alive() else "the preview server died while starting")
        running.append((server, thread, sock))
        return url_of(sock)

    yield start
    for server, thread, sock in running:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        assert not thread.is_alive(), "the preview server did not stop"
