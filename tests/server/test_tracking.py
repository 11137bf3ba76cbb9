"""Open pixel, click redirects, health check and error answers of the real app."""

from __future__ import annotations

from newsletter import tokens

SECRET = "tracking-test-secret-key-0123456789"
LINKS = ["https://example.org/a?utm_source=newsletter", "https://example.org/b", "https://example.com/c"]


def _tail(url: str, marker: str) -> str:
    return marker + url.rsplit(marker, 1)[1]


def test_pixel_answers_a_gif_that_is_not_cached_and_records_an_open(client, seed_send, count_events):
    ids = seed_send()
    send, ann = ids["send_id"], ids["subscribers"][0]
    answer = client.get(_tail(tokens.open_url("http://x", SECRET, send, ann), "/o/"))
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/gif"
    assert answer.content.startswith(b"GIF89a\x01\x00\x01\x00") and answer.content.endswith(b";")
    assert "no-store" in answer.headers["cache-control"] and answer.headers["pragma"] == "no-cache"
    assert count_events("type = 'open' AND source = 'tracking' AND send_id = ? AND subscriber_id = ?", send, ann) == 1


def test_click_redirects_to_the_link_of_that_send_only(client, seed_send, count_events):
    ids = seed_send()
    other = seed_send(slug="other-issue", links=["https://evil.example.net/"])
    send, ann = ids["send_id"], ids["subscribers"][0]
    for index, link in enumerate(LINKS):
        answer = client.get(_tail(tokens.click_url("http://x", SECRET, send, ann, index), "/c/"))
        assert answer.status_code == 302 and answer.headers["location"] == link
    assert count_events("type = 'click' AND url = ? AND subscriber_id = ?", LINKS[1], ann) == 1
    # Same send, an index it does not have; another send's own link is still only its own.
    missing = client.get(_tail(tokens.click_url("http://x", SECRET, send, ann, 3), "/c/"))
    assert missing.status_code == 404 and "location" not in missing.headers
    elsewhere = client.get(_tail(tokens.click_url("http://x", SECRET, other["send_id"], ann, 0), "/c/"))
    assert elsewhere.headers["location"] == "https://evil.example.net/"
    assert client.get(_tail(tokens.click_url("http://x", SECRET, 999, ann, 0), "/c/")).status_code == 404


def test_tampered_click_and_open_tokens_are_refused_alike(client, seed_send, count_events):
    ids = seed_send()
    click = _tail(tokens.click_url("http://x", SECRET, ids["send_id"], 1, 0), "/c/")
    pixel = _tail(tokens.open_url("http://x", SECRET, ids["send_id"], 1), "/o/")
    forged = tokens.sign("not-the-server-key-0123456789", "click", [ids["send_id"], 1, 0])
    bad = [click[:-3] + "abc", "/c/" + forged, "/c/" + pixel[3:-4], "/c/https:evil.example.net",
           pixel[:-8] + "xyz.gif", "/o/garbage.gif", "/o/" + click[3:] + ".gif"]
    answers = [client.get(path) for path in bad]
    assert [a.status_code for a in answers] == [404] * len(bad)
    assert {a.text for a in answers} == {"This link is not valid.\n"}
    assert all("location" not in a.headers for a in answers)
    assert client.get("/c/https:%2F%2Fevil.example.net").status_code == 404
    assert count_events() == 0


def test_healthz_and_unknown_routes(client):
    assert client.get("/healthz").text == "ok\n"
    assert client.get("/nope").status_code == 404
    assert client.post("/healthz").status_code == 405
    assert client.get("/webhooks/sendgrid").status_code == 405


def test_a_server_bug_is_a_bare_500_and_logged_without_traceback_to_the_client(client, monkeypatch, caplog, seed_send):
    from newsletter.tracking import provider_events

    def broken(*args, **kwargs):
        raise RuntimeError("secret detail that must not leak")

    monkeypatch.setattr(provider_events, "record_tracking", broken)
    ids = seed_send()
    answer = client.get(_tail(tokens.open_url("http://x", SECRET, ids["send_id"], 1), "/o/"))
    assert answer.status_code == 500 and answer.text == "internal error\n"
    assert "internal error on GET /o/{token}.gif" in caplog.text
