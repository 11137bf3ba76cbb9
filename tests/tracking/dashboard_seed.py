"""A small database whose dashboard figures are known exactly (shared by tests/tracking and tests/server;
imported by name, see pythonpath in pyproject.toml).

Ten subscribers on list "news" (3 at gmail.com, 2 at outlook.com, 1 at yahoo.com, 1 at icloud.com, 3 at
example.org), one finished SendGrid send to them (9 accepted, 1 in doubt) with real SendGrid-shaped
events, and a second send that a live run is sending (4 accepted, 2 claimed, 4 queued).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta

from newsletter.store import connect
from newsletter.tracking.provider_events import ingest_sendgrid

EMAILS = ["g0@gmail.com", "g1@gmail.com", "g2@gmail.com", "o3@outlook.com", "o4@outlook.com", "y5@yahoo.com",
          "a6@icloud.com", "e7@example.org", "e8@example.org", "e9@example.org"]
STARTED = "2026-11-24T08:00:00Z"
T0 = int(datetime(2026, 11, 24, 8, tzinfo=UTC).timestamp())
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
LINKS = ["https://example.org/a", "https://example.org/b"]

#: What the send page must show for the finished send.
EXPECTED = {
    "funnel": {"Recipients": 10, "Accepted": 9, "Delivered": 8, "Human opens": 3, "Human clicks": 1,
               "Unsubscribes": 1, "Complaints": 1},
    # hour after the start -> (human opens, human clicks, machine opens, machine clicks)
    "hours": {0: (0, 0, 1, 3), 1: (2, 1, 0, 0), 3: (1, 0, 0, 0)},
    "domains": {"example.org": (3, 1, 0), "yahoo.com": (1, 0, 1)},  # recipients, bounces, complaints
    "providers": {"Gmail": 3, "Outlook/Microsoft": 2, "Yahoo": 1, "Apple iCloud": 1, "Others": 3},
    "provider_opens": {"Gmail": 2, "Outlook/Microsoft": 1},
    "members_now": 7,  # 10, less the unsubscribed, the bounced and the complaining
}


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def seed_dashboard(database: str) -> dict:
    """Seed the data above into ``database``; returns ids and the Mondays the lists page counts from."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    this_monday = _monday(datetime.now(UTC).date())
    three_weeks = (this_monday - timedelta(weeks=3)).isoformat() + "T10:00:00Z"
    last_week = (this_monday - timedelta(weeks=1)).isoformat() + "T10:00:00Z"
    conn = connect(database)
    try:
        list_id = conn.execute("INSERT INTO lists (name, title, created_at) VALUES ('news', 'Harbour News', ?)"
                               " RETURNING id", (three_weeks,)).fetchone()[0]
        ids = []
        for i, email in enumerate(EMAILS):
            joined = three_weeks if i < 6 else last_week
            sid = conn.execute("INSERT INTO subscribers (email, email_key, created_at, updated_at) VALUES (?, ?, ?, ?)"
                               " RETURNING id", (email, email, joined, joined)).fetchone()[0]
            conn.execute("INSERT INTO memberships (list_id, subscriber_id, created_at, updated_at) VALUES (?, ?, ?, ?)",
                         (list_id, sid, joined, joined))
            conn.execute("INSERT INTO consents (subscriber_id, list_id, method, requested_at, confirmed_at)"
                         " VALUES (?, ?, 'add', ?, ?)", (sid, list_id, joined, joined))
            ids.append(sid)
        done = conn.execute(
            "INSERT INTO sends (slug, html_sha256, list_id, backend, subject, links, created_at, started_at, finished_at)"
            " VALUES ('2026-11-harbour', 'x', ?, 'sendgrid', 'Harbour <news>', ?, ?, ?, ?) RETURNING id",
            (list_id, json.dumps(LINKS), STARTED, STARTED, STARTED)).fetchone()[0]
        for i, sid in enumerate(ids):
            conn.execute("INSERT INTO deliveries (send_id, subscriber_id, state, attempts, updated_at)"
                         " VALUES (?, ?, ?, 1, ?)", (done, sid, "in_doubt" if i == 9 else "accepted", STARTED))
        live = conn.execute(
            "INSERT INTO sends (slug, html_sha256, list_id, backend, subject, links, created_at, started_at)"
            " VALUES ('2026-12-harbour', 'y', ?, 'smtp', 'December', '[]', ?, ?) RETURNING id",
            (list_id, now, now)).fetchone()[0]
        run_id = conn.execute(
            "INSERT INTO send_runs (send_id, owner, host, pid, started_at, expires_at) VALUES (?, 'test', 'here', 1, ?, ?)"
            " RETURNING id", (live, now, time.time() + 3600)).fetchone()[0]
        for i, sid in enumerate(ids):
            state = "accepted" if i < 4 else "claimed" if i < 6 else "queued"
            conn.execute("INSERT INTO deliveries (send_id, subscriber_id, state, prior, run_id, updated_at)"
                         " VALUES (?, ?, ?, ?, ?, ?)", (live, sid, state, "queued" if state == "claimed" else None,
                                                        run_id if state == "claimed" else None, now))

        def sg(kind: str, who: int, second: int, **extra) -> dict:
            return {"event": kind, "sg_event_id": f"{kind}-{who}-{second}", "send_id": str(done),
                    "subscriber_id": str(ids[who]), "email": EMAILS[who], "timestamp": T0 + second, **extra}

        ingest_sendgrid(conn, [sg("delivered", i, 30) for i in range(8)] + [
            sg("bounce", 8, 60, type="bounce", reason="550 no such user"),
            sg("open", 6, 300, useragent="Mozilla/5.0"),  # Apple's proxy: machine, hour 0
            sg("click", 4, 120, useragent=DESKTOP, url=LINKS[0]),  # a gateway's burst: machine, hour 0
            sg("click", 4, 121, useragent=DESKTOP, url=LINKS[1]),
            sg("click", 4, 121, useragent=DESKTOP, url=LINKS[0], sg_event_id="click-4-121b"),
            sg("open", 0, 4200, useragent=PHONE), sg("open", 1, 4800, useragent=DESKTOP),  # hour 1
            sg("click", 0, 4320, useragent=PHONE, url=LINKS[1]),  # hour 1
            sg("open", 3, 11100, useragent=DESKTOP),  # hour 3
            sg("spamreport", 5, 14400), sg("unsubscribe", 2, 18000),
        ])
        return {"list_id": list_id, "done": done, "live": live, "subscribers": ids}
    finally:
        conn.close()
