"""``newsletter stats --json`` agrees with what was posted to the real app."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from newsletter import tokens
from newsletter.cli import app

SECRET = "tracking-test-secret-key-0123456789"


def sg(kind: str, send_id, subscriber_id, n: int, **extra) -> dict:
    return {"email": extra.pop("email", "x@example.org"), "timestamp": 1795000000 + n, "event": kind,
            "sg_event_id": f"evt-{n}", "send_id": str(send_id), "subscriber_id": str(subscriber_id), **extra}


def test_stats_json_matches_the_events_posted(client, post_events, seed_send, settings):
    ids = seed_send(emails=[f"r{i}@example.org" for i in range(10)])
    send, subs = ids["send_id"], ids["subscribers"]
    events = [sg("processed", send, s, i) for i, s in enumerate(subs)]
    events += [sg("delivered", send, s, 100 + i) for i, s in enumerate(subs[:8])]
    events += [sg("bounce", send, s, 200 + i) for i, s in enumerate(subs[8:])]
    events += [sg("open", send, subs[0], 300), sg("open", send, subs[0], 301), sg("open", send, subs[1], 302),
               sg("open", send, subs[2], 303, sg_machine_open=True)]
    events += [sg("click", send, subs[0], 400, url="https://example.org/b"),
               sg("click", send, subs[0], 401, url="https://example.org/b"),
               sg("click", send, subs[1], 402, url="https://example.org/a")]
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
                                   "unique_opens", "machine_opens", "unique_clicks", "unsubscribes", "spam_reports",
                                   "rate_base")} == {
        "send_id": send, "slug": "2026-11-example", "list": "main", "recipients": 10, "accepted": 10,
        "delivered": 8, "bounced": 2, "unique_opens": 4, "machine_opens": 1, "unique_clicks": 3,
        "unsubscribes": 2, "spam_reports": 1, "rate_base": "delivered"}
    assert stats["open_rate"] == 0.5 and stats["click_rate"] == 0.375
    assert "Apple Mail Privacy Protection" in stats["open_rate_note"]
    assert stats["top_links"] == [
        {"url": "https://example.org/b", "clicks": 3, "unique_clicks": 2},
        {"url": "https://example.org/a", "clicks": 1, "unique_clicks": 1},
    ]
