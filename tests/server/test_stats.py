"""``newsletter stats --json`` agrees with what was posted to the real app."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from newsletter import tokens
from newsletter.cli import app

SECRET = "tracking-test-secret-key-0123456789"
IPHONE_MAIL = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
IPHONE_SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
                 " Version/17.4 Mobile/15E148 Safari/604.1")


def sg(kind: str, send_id, subscriber_id, n: int, **extra) -> dict:
    return {"email": extra.pop("email", "x@example.org"), "timestamp": 1795000000 + n, "event": kind,
            "sg_event_id": f"evt-{n}", "send_id": str(send_id), "subscriber_id": str(subscriber_id), **extra}


def test_stats_json_matches_the_events_posted(client, post_events, seed_send, settings):
    ids = seed_send(emails=[f"r{i}@example.org" for i in range(10)])
    send, subs = ids["send_id"], ids["subscribers"]
    events = [sg("processed", send, s, i) for i, s in enumerate(subs)]
    events += [sg("delivered", send, s, 100 + i) for i, s in enumerate(subs[:8])]
    events += [sg("bounce", send, s, 200 + i) for i, s in enumerate(subs[8:])]
    # subs[1]'s open by Apple's proxy is upgraded by a click from a person's phone.
    events += [sg("open", send, subs[0], 300, useragent=IPHONE_MAIL), sg("open", send, subs[0], 301, useragent=IPHONE_MAIL),
               sg("open", send, subs[1], 302, useragent="Mozilla/5.0"),
               sg("open", send, subs[2], 303, sg_machine_open=True, useragent="Mozilla/5.0")]
    events += [sg("click", send, subs[0], 400, url="https://example.org/b", useragent=IPHONE_SAFARI),
               sg("click", send, subs[0], 401, url="https://example.org/b", useragent=IPHONE_SAFARI),
               sg("click", send, subs[1], 402, url="https://example.org/a", useragent=IPHONE_SAFARI)]
    events += [sg("spamreport", send, subs[3], 500), sg("group_unsubscribe", send, subs[4], 501)]
    assert post_events(events[:15]).status_code == 200
    assert post_events(events[10:]).status_code == 200  # overlapping retry
    # Our own tracking and the unsubscribe page count too.
    assert client.get("/o/" + tokens.open_url("http://x", SECRET, send, subs[5]).rsplit("/o/", 1)[1]).status_code == 200
    assert client.get("/c/" + tokens.click_url("http://x", SECRET, send, subs[5], 1).rsplit("/c/", 1)[1]).status_code == 302
    assert client.post("/u/" + tokens.unsubscribe_url("http://x", SECRET, subs[6], send).rsplit("/u/", 1)[1]).status_code == 200

    env = {"NEWSLETTER_DATABASE": settings.newsletter_database, "NEWSLETTER_ENV_FILE": "/dev/null"}
    result = CliRunner().invoke(app, ["stats", "--json"], env=env)
    assert result.exit_code == 0, result.output
    [stats] = json.loads(result.output)
    assert {k: stats[k] for k in ("send_id", "slug", "list", "recipients", "accepted", "delivered", "bounced",
                                   "unique_opens", "human_opens", "machine_opens", "unknown_opens", "unique_clicks",
                                   "human_clicks", "machine_clicks", "unknown_clicks", "unsubscribes", "spam_reports",
                                   "rate_base")} == {
        "send_id": send, "slug": "2026-11-example", "list": "main", "recipients": 10, "accepted": 10,
        "delivered": 8, "bounced": 2, "unique_opens": 4, "human_opens": 2, "machine_opens": 1, "unknown_opens": 1,
        "unique_clicks": 3, "human_clicks": 2, "machine_clicks": 0, "unknown_clicks": 1,
        "unsubscribes": 2, "spam_reports": 1, "rate_base": "delivered"}
    assert stats["open_rate"] == 0.25 and stats["click_rate"] == 0.25  # human ones, of delivered
    assert "Apple Mail Privacy Protection" in stats["open_rate_note"]
    assert stats["top_links"] == [
        {"url": "https://example.org/b", "clicks": 3, "unique_clicks": 2},
        {"url": "https://example.org/a", "clicks": 1, "unique_clicks": 1},
    ]
