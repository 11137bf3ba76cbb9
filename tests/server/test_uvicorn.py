"""The app served by uvicorn on a loopback port, spoken to over real HTTP."""

from __future__ import annotations

import json

import httpx
import pytest

from newsletter import tokens

SECRET = "tracking-test-secret-key-0123456789"


@pytest.fixture
def base_url(settings, serve):
    """The app for ``settings`` served by uvicorn on a loopback port."""
    return serve(settings)


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
