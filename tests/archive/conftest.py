"""Fixtures for the archive tests: issues sent for real (the CLI's `send` to the outbox, which records the
send and its release as any team's would) on a fresh database of each kind."""

from __future__ import annotations

import socket
import textwrap
import threading
import time
from pathlib import Path

import pytest

from newsletter.settings import Settings
from newsletter.store import connect, transaction
from tests.delivery.fakes import settings_env

PUBLIC_URL = "https://news.example.org"
SECRET = "archive-test-secret-key-0123456789"

FIRST = """\
title: "Harbour News: November"
preheader: Release 4.2 is out and the summit videos are online.
"""
FIRST_BODY = """\
# Hello %%name%%

The release is out. [Read the notes](https://harbour.example.org/notes).

![A boat](https://images.example.com/boat.png)

**[WATCH THE VIDEOS >>](https://video.example.net/summit)**
"""


class Newsroom:
    """A team's repository in ``tmp_path``: issue files in issues/, a database, the real CLI."""

    def __init__(self, root: Path, config: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.config = config
        self._monkeypatch = monkeypatch

    def write(self, name: str, frontmatter: str = FIRST, body: str = FIRST_BODY) -> Path:
        """Write ``issues/<name>.md``; returns its path."""
        path = self.root / "issues" / f"{name}.md"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"---\n{textwrap.dedent(frontmatter).strip()}\n---\n{textwrap.dedent(body)}", encoding="utf-8")
        return path

    def cli(self, *args: object, config: Settings | None = None):
        """Run the real CLI in-process with this room's settings as its environment."""
        from typer.testing import CliRunner

        from newsletter.cli import app

        for name, value in settings_env(config or self.config).items():
            self._monkeypatch.setenv(name, value)
        return CliRunner().invoke(app, [str(a) for a in args])

    def subscribe(self, list_name: str, *emails: str) -> None:
        """Import ``emails`` into ``list_name``."""
        people = self.root / f"{list_name}.csv"
        people.write_text("email,name\n" + "".join(f"{e},\n" for e in emails), encoding="utf-8")
        result = self.cli("subscribers", "import", people, "--list", list_name)
        assert result.exit_code == 0, result.output

    def send(self, issue: Path, list_name: str = "news") -> None:
        """Send ``issue`` to ``list_name`` through the outbox, as `newsletter send` does."""
        result = self.cli("send", issue, "--list", list_name, "--yes")
        assert result.exit_code == 0, result.output
        assert " accepted" in result.output

    def sql(self, statement: str, *params: object) -> list:
        """Rows of ``statement`` on the room's database (for checks and for states no command makes)."""
        conn = connect(self.config.newsletter_database)
        try:
            with transaction(conn):
                cursor = conn.execute(statement, params)
                return cursor.fetchall() if cursor.description else []
        finally:
            conn.close()

    def build(self, config: Settings | None = None):
        """The archive as ``build_site`` makes it now."""
        from newsletter.archive import build_site

        conn = connect((config or self.config).newsletter_database)
        try:
            return build_site(conn, config or self.config)
        finally:
            conn.close()


@pytest.fixture
def newsroom(tmp_path, database, monkeypatch) -> Newsroom:
    """A newsroom on a fresh database (SQLite, then PostgreSQL), working in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    config = Settings(
        newsletter_database=database,
        newsletter_secret_key=SECRET,
        newsletter_public_url=PUBLIC_URL,
        newsletter_outbox=str(tmp_path / "outbox"),
        newsletter_build_dir=str(tmp_path / "build"),
        newsletter_issues=str(tmp_path / "issues"),
        newsletter_brand="Harbour",
    )
    return Newsroom(tmp_path, config, monkeypatch)


@pytest.fixture
def sent(newsroom) -> Newsroom:
    """A newsroom that sent two issues to `news` and one of them to `team` too."""
    newsroom.subscribe("news", "ann@example.org", "bob@example.org")
    newsroom.subscribe("team", "cy@example.org")
    first = newsroom.write("2026-11-harbour")
    newsroom.send(first, "news")
    newsroom.send(first, "team")
    second = newsroom.write("2026-12-harbour", 'title: "Harbour News: December"\npreheader: Winter plans.',
                            "Hi %%name%%, winter is coming.\n\nThis copy is for %%email%%.\n\nBye for now.\n")
    newsroom.send(second, "news")
    # The sends' times as a fixed history, so dates and order are known (both sends of the first issue alike).
    newsroom.sql("UPDATE sends SET started_at = '2026-11-24T08:00:00Z', finished_at = '2026-11-24T08:05:00Z'"
                 " WHERE slug = '2026-11-harbour'")
    newsroom.sql("UPDATE sends SET started_at = '2026-12-15T08:00:00Z', finished_at = '2026-12-15T08:02:00Z'"
                 " WHERE slug = '2026-12-harbour'")
    return newsroom


@pytest.fixture
def serve():
    """``serve(config)``: the real app under uvicorn on a free loopback port; returns its URL. Stopped at teardown.

    ``NEWSLETTER_PUBLIC_URL`` stays as the issues were sent with (it is in their "View in browser" link).
    """
    import uvicorn

    from newsletter.server.app import create_app

    running = []

    def start(config):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        running.append((server, thread, sock))
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return url

    yield start
    for server, thread, sock in running:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        assert not thread.is_alive()
