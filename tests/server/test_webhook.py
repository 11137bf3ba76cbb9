"""The signed SendGrid Event Webhook through the real app."""

from __future__ import annotations

import json
import time

from newsletter.server.webhook import MAX_BODY


def sg(kind: str, send_id, subscriber_id, n: int, **extra) -> dict:
    """A SendGrid-shaped event carrying our custom_args (as strings)."""
    return {"email": extra.pop("email", "ann@example.org"), "timestamp": 1795000000 + n, "event": kind,
            "sg_event_id": f"evt-{n}", "send_id": str(send_id), "subscriber_id": str(subscriber_id), **extra}


def test_signed_events_are_stored_once_even_when_posted_twice(post_events, seed_send, count_events):
    ids = seed_send()
    send, (ann, bob, _) = ids["send_id"], ids["subscribers"]
    events = [sg("processed", send, ann, 1), sg("delivered", send, ann, 2), sg("open", send, ann, 3),
              sg("click", send, bob, 4, url="https://example.org/b", email="bob@example.org")]
    first = post_events(events)
    assert first.status_code == 200, first.text
    assert first.json()["stored"] == 4
    second = post_events(events)
    assert second.status_code == 200 and second.json() == {
        "received": 4, "stored": 0, "duplicates": 4, "ignored": 0, "status_changes": 0}
    assert count_events() == 4 and count_events("send_id = ? AND subscriber_id = ?", send, bob) == 1


def test_a_bounce_suppresses_the_subscriber(post_events, seed_send, status_of):
    ids = seed_send()
    send, (ann, bob, cy) = ids["send_id"], ids["subscribers"]
    answer = post_events([sg("bounce", send, ann, 1, type="bounce", reason="550 no such user"),
                          sg("spamreport", send, bob, 2, email="bob@example.org"),
                          sg("unsubscribe", "", "", 3, email="CY@example.org")])  # matched by address
    assert answer.status_code == 200 and answer.json()["status_changes"] == 3
    assert (status_of(ann), status_of(bob), status_of(cy)) == ("bounced", "complained", "unsubscribed")


def test_unsigned_and_wrongly_signed_requests_are_refused(client, keys, post_events, seed_send, count_events):
    ids = seed_send()
    body = json.dumps([sg("bounce", ids["send_id"], ids["subscribers"][0], 1)]).encode()
    headers = keys.headers(body)
    unsigned = client.post("/webhooks/sendgrid", content=body, headers={"Content-Type": "application/json"})
    tampered = client.post("/webhooks/sendgrid", content=body.replace(b"bounce", b"open  "), headers=headers)
    other_ts = client.post("/webhooks/sendgrid", content=body,
                           headers={**headers, "X-Twilio-Email-Event-Webhook-Timestamp": str(int(time.time()) - 1)})
    garbage = client.post("/webhooks/sendgrid", content=body,
                          headers={**headers, "X-Twilio-Email-Event-Webhook-Signature": "not base64!!"})
    for answer in (unsigned, tampered, other_ts, garbage):
        assert answer.status_code == 403, answer.text
        assert len(answer.text) < 80 and "Traceback" not in answer.text
    assert count_events() == 0


def test_stale_and_far_future_timestamps_are_refused(post_events, seed_send, count_events):
    ids = seed_send()
    events = [sg("open", ids["send_id"], ids["subscribers"][0], 1)]
    assert post_events(events, timestamp=int(time.time()) - 11 * 60).status_code == 403  # a replay
    assert post_events(events, timestamp=int(time.time()) + 3600).status_code == 403
    assert count_events() == 0
    assert post_events(events, timestamp=int(time.time()) - 9 * 60).status_code == 200


def test_oversized_bodies_are_refused_by_header_and_while_streaming(client, keys, count_events):
    big = b"[" + b" " * MAX_BODY + b"]"
    declared = client.post("/webhooks/sendgrid", content=big, headers=keys.headers(big))
    assert declared.status_code == 400 and "too large" in declared.text

    def chunks():  # no Content-Length: sent chunked, counted while reading
        for _ in range(6):
            yield b" " * (1024 * 1024)

    streamed = client.post("/webhooks/sendgrid", content=chunks(), headers=keys.headers(b""))
    assert streamed.status_code == 400 and "too large" in streamed.text
    assert count_events() == 0


def test_malformed_json_is_a_400(client, keys):
    for body in (b'[{"event": "open"', b'{"event": "open"}', b"\xff\xfe"):
        answer = client.post("/webhooks/sendgrid", content=body, headers=keys.headers(body))
        assert answer.status_code == 400, (body, answer.text)


def test_without_a_public_key_the_webhook_refuses_everything(settings, keys, make_client, caplog):
    body = b"[]"
    for public_key in ("", "bm90IGEga2V5"):
        with make_client(settings.with_overrides(sendgrid_webhook_public_key=public_key)) as client:
            answer = client.post("/webhooks/sendgrid", content=body, headers=keys.headers(body))
        assert answer.status_code == 503 and answer.text == "webhook not configured\n"
    assert "SENDGRID_WEBHOOK_PUBLIC_KEY" in caplog.text
