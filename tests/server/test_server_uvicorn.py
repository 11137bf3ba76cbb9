"""The app served by uvicorn on a loopback port, spoken to over real HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from newsletter import tokens
from newsletter.server.app import create_app

SECRET = "tracking-test-secret-key-0123456789"


@pytest.fixture
def base_url(settings):
    """Serve ``create_app(settings)`` with uvicorn in a thread on a free port; stop it afterwards."""
    # IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted connections, as when uvicorn binds itself.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()
    assert not thread.is_alive()


def test_one_click_webhook_and_pixel_over_real_http(base_url, seed_send, status_of, keys, count_events):
    ids = seed_send()
    send, (ann, bob, _) = ids["send_id"], ids["subscribers"]
    unsubscribe = tokens.unsubscribe_url(base_url, SECRET, ann, send)
    with httpx.Client(timeout=30, follow_redirects=False) as http:
        assert http.get(f"{base_url}/healthz").text == "ok\n"
        assert http.get(unsubscribe).status_code == 200 and status_of(ann) == "active"
        # Exactly what Gmail sends for RFC 8058 one-click.
        answer = http.post(unsubscribe, content=b"List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 200 and status_of(ann) == "unsubscribed"

        body = json.dumps([{"event": "bounce", "type": "bounce", "email": "bob@example.org", "timestamp": 1795000000,
                            "sg_event_id": "b-1", "send_id": str(send), "subscriber_id": str(bob)}]).encode()
        assert http.post(f"{base_url}/webhooks/sendgrid", content=body).status_code == 403
        assert http.post(f"{base_url}/webhooks/sendgrid", content=body, headers=keys.headers(body)).status_code == 200
        assert status_of(bob) == "bounced"

        pixel = http.get(tokens.open_url(base_url, SECRET, send, ann))
        assert pixel.status_code == 200 and pixel.content.startswith(b"GIF89a")
        assert http.get(tokens.click_url(base_url, SECRET, send, ann, 1)).headers["location"] == "https://example.org/b"
    assert count_events("source = 'tracking'") == 2
