"""Verdicts on opens and clicks: the user-agent corpus, the rules in order, and SendGrid's events
(``sg_machine_open``, bursts, hits right after delivery) judged on ingest with the IP and agent dropped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsletter.store import rollups
from newsletter.store.engagement import verdict_counts
from newsletter.tracking import verdicts
from newsletter.tracking.provider_events import import_events_file, ingest_sendgrid
from newsletter.tracking.stats import collect_stats
from newsletter.tracking.verdicts import Hit, judge

CORPUS = Path(__file__).with_name("user_agents.tsv")
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
T0 = 1795000000


def corpus() -> list[tuple[str, str]]:
    rows = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            expected, agent = line.split("\t")
            rows.append((expected, "" if agent == "<empty>" else agent))
    return rows


@pytest.mark.parametrize(("expected", "agent"), corpus())
def test_user_agent_corpus(expected, agent):
    verdict = judge(Hit("open", user_agent=agent))
    assert verdict.verdict == expected, (agent, verdict)
    assert verdict.reason


def test_the_corpus_covers_every_verdict_and_apples_proxy_exactly():
    assert {expected for expected, _ in corpus()} == {"human", "machine", "unknown"}
    assert "Apple Mail Privacy Protection" in judge(Hit("open", user_agent="Mozilla/5.0")).reason
    assert judge(Hit("open", user_agent="Mozilla/5.0 ")).verdict == "machine"  # surrounding blanks do not matter
    assert judge(Hit("open", user_agent=PHONE)).verdict == "human"  # the same phone without the proxy


def test_rules_apply_in_order():
    assert judge(Hit("click", user_agent=PHONE, near_canary=True)).reason == verdicts.CANARY_REASON
    flagged = judge(Hit("open", user_agent=PHONE, provider_flag="SendGrid flagged"))
    assert (flagged.verdict, flagged.reason) == ("machine", "SendGrid flagged")
    assert judge(Hit("click", user_agent=PHONE, in_burst=True)).reason == verdicts.BURST_REASON
    soon = judge(Hit("click", user_agent=PHONE, seconds_after_delivery=3))
    assert soon.verdict == "machine" and "of delivery" in soon.reason
    assert judge(Hit("click", user_agent=PHONE, seconds_after_delivery=3600)).verdict == "human"
    assert judge(Hit("click", user_agent="curl/8.5.0", seconds_after_delivery=3600)).verdict == "machine"


def test_bursts_need_three_clicks_within_two_seconds():
    assert verdicts.bursts([10, 11, 12]) == {0, 1, 2}
    assert verdicts.bursts([10, 11, 14]) == set()
    assert verdicts.bursts([50, 10, 30, 10.5, 11.9]) == {1, 3, 4}  # in any order
    assert verdicts.provider_flag({"sg_machine_open": True}) and verdicts.provider_flag({"sg_machine_open": "true"})
    assert not verdicts.provider_flag({"sg_machine_open": False}) and not verdicts.provider_flag({})


def sg(kind, send, subscriber, second, **extra) -> dict:
    return {"event": kind, "sg_event_id": f"{kind}-{subscriber}-{second}", "send_id": str(send),
            "subscriber_id": str(subscriber), "email": "x@example.org", "timestamp": T0 + second,
            "ip": "203.0.113.9", **extra}


def stored(db, send) -> list[tuple[int, str, str, str]]:
    return [(r[0], r[1], r[2], r[3]) for r in db.execute(
        "SELECT subscriber_id, type, verdict, verdict_reason FROM events WHERE send_id = ? AND type IN ('open', 'click')"
        " ORDER BY id", (send,))]


def test_sendgrid_events_are_judged_and_lose_ip_and_agent(db, seed_send, settings):
    ids = seed_send(emails=[f"p{i}@example.org" for i in range(5)])
    send, (a, b, c, d, e) = ids["send_id"], ids["subscribers"]
    ingest_sendgrid(db, [sg("delivered", send, s, 0) for s in (a, b, c, d, e)])
    ingest_sendgrid(db, [
        sg("open", send, a, 1, useragent="Mozilla/5.0", sg_machine_open=True),  # Apple's proxy, flagged
        sg("open", send, a, 4000, useragent=PHONE),  # the person, later: upgrades a
        sg("open", send, b, 5, useragent=PHONE),  # 5 s after delivery
        sg("click", send, c, 600, useragent=PHONE, url="https://example.org/a"),
        sg("click", send, c, 601, useragent=PHONE, url="https://example.org/b"),
    ])
    assert rollups.catch_up(db, send) == 10  # the dashboard folded them in before the rest came
    # The third of c's clicks arrives in a later batch: the two stored ones are judged with it.
    ingest_sendgrid(db, [sg("click", send, c, 602, useragent=PHONE, url="https://example.com/c"),
                         sg("click", send, d, 900, useragent=PHONE, url="https://example.org/a"),
                         sg("open", send, e, 70, useragent="")])
    by = {(s, kind, verdict) for s, kind, verdict, _ in stored(db, send)}
    assert by == {(a, "open", "machine"), (a, "open", "human"), (b, "open", "machine"), (c, "click", "machine"),
                  (d, "click", "human"), (e, "open", "unknown")}
    reasons = {reason for s, _, _, reason in stored(db, send) if s == c}
    assert reasons == {verdicts.BURST_REASON}
    raws = [json.loads(r[0]) for r in db.execute("SELECT raw FROM events WHERE send_id = ?", (send,))]
    assert raws and not any("ip" in raw or "useragent" in raw for raw in raws)
    assert any(raw.get("sg_machine_open") for raw in raws)  # the provider's flag is kept

    counts = verdict_counts(db, send)
    assert (counts["opens_human"], counts["opens_machine"], counts["opens_unknown"]) == (2, 2, 1)  # a and d; b and c
    assert (counts["clicks_human"], counts["clicks_machine"]) == (1, 1)
    [stats] = collect_stats(settings)
    assert (stats.human_opens, stats.machine_opens, stats.human_clicks, stats.machine_clicks) == (2, 2, 1, 1)
    assert stats.rate_base == "delivered" and stats.open_rate == 0.4 and stats.click_rate == 0.2

    # The roll-ups the dashboard reads agree with the events, re-judged clicks included.
    rollups.catch_up(db, send)
    totals: dict[str, int] = {}
    for (_, what), n in rollups.domain_counts(db, send).items():
        totals[what] = totals.get(what, 0) + n
    assert {k: v for k, v in totals.items() if k.startswith(("open:", "click:"))} == {
        "open:human": 2, "open:machine": 2, "open:unknown": 1, "click:human": 1, "click:machine": 1}
    assert totals["delivered"] == 5
    hours = sorted((kind, verdict, n) for _, kind, verdict, n in rollups.hour_counts(db, send, "2026", "2027"))
    assert hours == sorted((r[0], r[1], int(r[2])) for r in db.execute(
        "SELECT type, verdict, COUNT(*) FROM events WHERE send_id = ? AND type IN ('open', 'click')"
        " GROUP BY type, verdict", (send,)))  # all in one hour
    assert ("click", "machine", 3) in hours


def test_imported_files_are_judged_alike(tmp_path, db, seed_send, settings):
    ids = seed_send()
    send, (a, b, _) = ids["send_id"], ids["subscribers"]
    path = tmp_path / "events.json"
    path.write_text(json.dumps([
        sg("open", send, a, 100, useragent="Mozilla/5.0", sg_machine_open=True),
        sg("click", send, b, 200, useragent="python-requests/2.31.0", url="https://example.org/a"),
    ]), encoding="utf-8")
    assert import_events_file(path, settings).stored == 2
    assert [(s, verdict) for s, _, verdict, _ in stored(db, send)] == [(a, "machine"), (b, "machine")]
    assert db.execute("SELECT COUNT(*) FROM events WHERE raw LIKE '%203.0.113.9%'").fetchone()[0] == 0
