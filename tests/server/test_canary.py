"""Our own open pixel, click redirect and hidden canary link, judged on the request's user agent."""

from __future__ import annotations

import re

from newsletter import tokens
from newsletter.tracking import verdicts
from newsletter.tracking.instrument import TrackingRewriter

SECRET = "tracking-test-secret-key-0123456789"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def judged(settings, send):
    from newsletter.store import connect

    conn = connect(settings.newsletter_database)
    try:
        return [tuple(r) for r in conn.execute(
            "SELECT subscriber_id, type, verdict, verdict_reason, raw FROM events WHERE send_id = ? ORDER BY id", (send,))]
    finally:
        conn.close()


def test_the_canary_marks_the_copy_that_fetched_it(client, seed_send, settings):
    ids = seed_send()
    send, (ann, bob, _) = ids["send_id"], ids["subscribers"]
    html = TrackingRewriter("<html><body><a href=\"https://example.org/b\">b</a></body></html>", ["https://example.org/b"],
                            public_url="http://testserver", secret_key=SECRET, send_id=send).for_recipient(ann)
    [canary] = re.findall(r'href="(http://testserver/k/[^"]+)"', html)
    [click] = re.findall(r'href="(http://testserver/c/[^"]+)"', html)

    scanner = {"User-Agent": PHONE}  # a gateway that looks like a browser
    assert client.get(path_of(click), headers=scanner).status_code == 302  # before the canary: a person, so far
    answer = client.get(path_of(canary), headers=scanner)
    assert answer.status_code == 204 and answer.content == b""
    assert client.get(path_of(click), headers=scanner).status_code == 302
    bobs = tokens.click_url("http://testserver", SECRET, send, bob, 0)
    assert client.get(path_of(bobs), headers={"User-Agent": PHONE}).status_code == 302

    rows = judged(settings, send)
    assert [(s, kind, verdict) for s, kind, verdict, _, _ in rows] == [
        (ann, "click", "machine"), (ann, "canary", "machine"), (ann, "click", "machine"), (bob, "click", "human")]
    assert rows[0][3] == rows[2][3] == verdicts.CANARY_REASON  # the first click was judged again
    assert not any("iPhone" in raw for *_, raw in rows)  # the agent is not kept
    assert client.get("/k/not-a-token").status_code == 404


def test_the_pixel_judges_apples_proxy_and_a_person(client, seed_send, settings):
    ids = seed_send()
    send, (ann, bob, cy) = ids["send_id"], ids["subscribers"]
    for who, agent in ((ann, "Mozilla/5.0"), (bob, PHONE), (cy, "")):
        url = tokens.open_url("http://testserver", SECRET, send, who)
        assert client.get(path_of(url), headers={"User-Agent": agent}).status_code == 200
    assert [(s, verdict) for s, _, verdict, _, _ in judged(settings, send)] == [
        (ann, "machine"), (bob, "human"), (cy, "unknown")]
