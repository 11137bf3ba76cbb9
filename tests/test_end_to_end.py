"""The whole journey through the real CLI and the real ASGI app.

compose → import → send (outbox, tracking on) → the subscriber clicks, opens
and one-click unsubscribes using the URLs inside the .eml → the next send
skips them → stats report it.
"""

from __future__ import annotations

import email
import email.policy
import json
import re

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.server.app import create_app
from newsletter.settings import load_settings

runner = CliRunner()
KEY = "end-to-end-secret-key-0123456789"


@pytest.fixture
def env(tmp_path, monkeypatch):
    values = {
        "NEWSLETTER_DATABASE": str(tmp_path / "n.db"),
        "NEWSLETTER_OUTBOX": str(tmp_path / "outbox"),
        "NEWSLETTER_SECRET_KEY": KEY,
        "NEWSLETTER_PUBLIC_URL": "https://news.example.org",
        "NEWSLETTER_TRACKING": "on",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def run(*args: str):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def message_for(folder, address):
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address in message["To"]:
            return message
    return None


def test_send_click_open_unsubscribe_then_skip(env, tmp_path, example_issue, write_issue):
    people = tmp_path / "people.csv"
    people.write_text("email,name\nada@example.org,Ada King\nbob@example.org,Bob\ncy@example.org,Cy\n")
    run("subscribers", "import", str(people), "--list", "news")
    assert "3 accepted" in run("send", str(example_issue), "--list", "news", "--yes").stdout

    message = message_for(tmp_path / "outbox" / "1", "ada@example.org")
    unsubscribe = re.search(r"<(https://news\.example\.org/u/[^>]+)>", message["List-Unsubscribe"]).group(1)
    html = message.get_body(("html",)).get_content()
    clicks = re.findall(r'href="https://news\.example\.org(/c/[^"]+)"', html)
    pixel = re.search(r'src="https://news\.example\.org(/o/[^"]+\.gif)"', html).group(1)
    assert clicks and "%%" not in html
    assert f"Unsubscribe: {unsubscribe}" in message.get_body(("plain",)).get_content()  # personalised text part

    with TestClient(create_app(load_settings())) as client:
        target = client.get(clicks[0], follow_redirects=False)
        assert target.status_code == 302
        assert target.headers["location"].startswith("https://summit.harbour.example.org/?utm_source=newsletter")
        gif = client.get(pixel)
        assert gif.status_code == 200 and gif.headers["content-type"] == "image/gif"
        assert client.get(unsubscribe.removeprefix("https://news.example.org")).status_code == 200  # page only
        done = client.post(unsubscribe.removeprefix("https://news.example.org"), data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200

    second = write_issue("Second issue body with [a link](https://a.example.com/).\n", name="second.md")
    assert "2 accepted" in run("send", str(second), "--list", "news", "--yes").stdout
    assert message_for(tmp_path / "outbox" / "2", "ada@example.org") is None
    assert message_for(tmp_path / "outbox" / "2", "bob@example.org") is not None

    (first,) = [s for s in json.loads(run("stats", "2026-11-example", "--json").stdout)]
    assert first["recipients"] == 3 and first["accepted"] == 3
    assert (first["unique_clicks"], first["unique_opens"], first["unsubscribes"]) == (1, 1, 1)
