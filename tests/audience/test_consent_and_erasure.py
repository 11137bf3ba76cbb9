"""Consent records for every way in and out, `subscribers show/export/erase`, and what erasure leaves behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsletter.audience import signup
from newsletter.audience.consent import text_sha256
from newsletter.store import connect
from newsletter.tracking import provider_events as events
from newsletter.tracking.stats import collect_stats
from tests.audience.helpers import membership, query
from tests.tracking.seeding import seed

ADDRESS = "Zeb.Erasable@Example.org"
NAME = "Zebediah Quorn-Erasable"
IP = "203.0.113.77"


def signup_and_confirm(settings, list_name: str, address: str, *, ip: str = "", name: str = "") -> dict:
    """A form signup on ``list_name`` and its confirmation, as the server does them."""
    conn = connect(settings.newsletter_database)
    try:
        form = signup.parse_form({"email": address, "name": name, "consent": "yes"})
        pending = signup.register(conn, settings, list_name, form, ip=ip, source="form")
        assert pending is not None
        token = signup.confirm_url(settings, pending).rsplit("/", 1)[1]
        return signup.confirm(conn, settings, token)
    finally:
        conn.close()


@pytest.fixture
def config(settings, cli):
    """Settings that store signup IPs in clear (the strictest case for erasure), with a signup list 'extra'."""
    config = settings.with_overrides(newsletter_signup_ip="stored")
    assert cli(config, "lists", "create", "extra", "--signup").exit_code == 0
    return config


def test_every_way_in_and_out_is_recorded(cli, config, tmp_path):
    people = tmp_path / "people.csv"
    people.write_text("email,name\nann@example.org,Ann\nbo@example.org,Bo\n", encoding="utf-8")
    assert cli(config, "subscribers", "import", people, "--list", "news").exit_code == 0
    assert cli(config, "subscribers", "add", "cy@example.org", "--list", "news").exit_code == 0
    signup_and_confirm(config, "extra", "ann@example.org", ip=IP)
    assert cli(config, "subscribers", "unsubscribe", "bo@example.org").exit_code == 0

    run = cli(config, "subscribers", "show", "ANN@example.org", "--json")
    assert run.exit_code == 0, run.output
    ann = json.loads(run.stdout)
    assert [(m["list"], m["status"]) for m in ann["memberships"]] == [("extra", "active"), ("news", "active")]
    imported, form = ann["consents"]
    assert (imported["method"], imported["source"], imported["confirmed_at"]) == ("import", "people.csv", imported["requested_at"])
    assert form["method"] == "form" and form["ip"] == IP
    assert form["consent_text"] == config.newsletter_consent_text
    assert form["consent_sha256"] == text_sha256(config.newsletter_consent_text)
    assert form["requested_at"] <= form["confirmed_at"]

    bo = json.loads(cli(config, "subscribers", "show", "bo@example.org", "--json").stdout)
    assert (bo["status"], bo["consents"][0]["left_how"]) == ("unsubscribed", "manual")
    cy = json.loads(cli(config, "subscribers", "show", "cy@example.org", "--json").stdout)
    assert cy["consents"][0]["method"] == "add" and cy["consents"][0]["left_at"] is None
    text = cli(config, "subscribers", "show", "ann@example.org").stdout
    assert "consent news: import (people.csv)" in text and f"ip {IP}" in text
    assert cli(config, "subscribers", "show", "nobody@example.org").exit_code == 2


def test_hashed_and_absent_ips(settings):
    from newsletter.audience.lists import create_list

    create_list("extra", settings, signup=True)
    signup_and_confirm(settings, "extra", "h@example.org", ip=IP)
    signup_and_confirm(settings.with_overrides(newsletter_signup_ip="off"), "extra", "o@example.org", ip=IP)
    stored = dict(query(settings.newsletter_database,
                        "SELECT s.email, c.ip FROM consents c JOIN subscribers s ON s.id = c.subscriber_id"))
    assert stored["h@example.org"].startswith("hmac-sha256:") and IP not in stored["h@example.org"]
    assert stored["o@example.org"] == ""


def _everything(database: str) -> str:
    conn = connect(database)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(tuple(row)) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"')).lower()
    finally:
        conn.close()


def _file_bytes(database: str) -> bytes:
    return b"".join(p.read_bytes() for p in Path(database).parent.glob(Path(database).name + "*")
                    if not p.name.endswith("send-lock")).lower()


def test_export_then_erasure_leaves_no_trace_and_keeps_stats(cli, config, tmp_path):
    database = config.newsletter_database
    ids = seed(database, emails=(ADDRESS, "bob@example.org", "cy@example.org"))
    zeb = ids["subscribers"][0]
    # A connection open all along (as `serve` keeps them) stops SQLite from resetting the write-ahead
    # log, whose old frames hold every earlier version of the rows: the erasure must empty it.
    keeper = connect(database)
    keeper.execute("SELECT COUNT(*) FROM subscribers").fetchone()
    people = tmp_path / "people.csv"
    people.write_text(f"email,name,city\n{ADDRESS},{NAME},Oslo\n", encoding="utf-8")
    assert cli(config, "subscribers", "import", people, "--list", "vip").exit_code == 0
    signup_and_confirm(config, "extra", ADDRESS.lower(), ip=IP)
    conn = connect(database)
    addresses = (ADDRESS, "bob@example.org", "cy@example.org")
    events.ingest_sendgrid(conn, [
        {"event": "open", "email": address, "timestamp": 1795000000, "sg_event_id": f"o-{i}",
         "ip": IP if address == ADDRESS else "198.51.100.1", "useragent": "Mail/1.0",
         "send_id": str(ids["send_id"]), "subscriber_id": str(sid)}
        for i, (address, sid) in enumerate(zip(addresses, ids["subscribers"], strict=True))
    ] + [{"event": "click", "email": ADDRESS, "timestamp": 1795000001, "sg_event_id": "c-1",
          "url": "https://example.org/a?utm_source=newsletter", "send_id": str(ids["send_id"])}])
    conn.execute("UPDATE deliveries SET error = ? WHERE subscriber_id = ?", (f"550 <{ADDRESS}>: mailbox full", zeb))
    conn.close()
    before = [s.as_dict() for s in collect_stats(config)]
    assert before[0]["unique_opens"] == 3 and before[0]["unique_clicks"] == 1

    out = tmp_path / "export.json"
    assert cli(config, "subscribers", "export", ADDRESS, "--out", out).exit_code == 0
    exported = json.loads(out.read_text(encoding="utf-8"))
    assert exported["subscriber"]["name"] == NAME and exported["subscriber"]["attributes"] == {"city": "Oslo"}
    assert sorted(m["list"] for m in exported["memberships"]) == ["extra", "main", "vip"]
    assert sorted(c["method"] for c in exported["consents"]) == ["form", "import"]
    assert [d["state"] for d in exported["deliveries"]] == ["accepted"]
    assert sorted(e["type"] for e in exported["events"]) == ["click", "open"]
    assert "ip" not in exported["events"][0]["raw"]  # judged, then dropped (tracking/verdicts.py)
    assert NAME.lower().encode() in _file_bytes(database)  # it is there before: the checks below can fail

    run = cli(config, "subscribers", "erase", ADDRESS)
    assert run.exit_code == 0 and "erased" in run.stdout, run.output
    for secret in (ADDRESS.lower(), NAME.lower(), IP, "oslo"):
        assert secret not in _everything(database), secret
        assert secret.encode() not in _file_bytes(database), secret
    keeper.close()
    assert [s.as_dict() for s in collect_stats(config)] == before
    left = query(database, "SELECT left_how FROM consents WHERE subscriber_id = ?", zeb)
    assert left and all(how == "erasure" for (how,) in left)

    # No import or `add` brings the address back; `show` says why.
    run = cli(config, "subscribers", "import", people, "--list", "vip")
    assert "0 added, 0 updated, 0 invalid, 1 suppressed" in run.stdout
    assert membership(database, ADDRESS, "vip") is None
    run = cli(config, "subscribers", "add", ADDRESS, "--list", "main")
    assert run.exit_code == 2 and "erased on request" in run.stderr
    assert "erased on request" in cli(config, "subscribers", "show", ADDRESS).stderr

    # The person's own new double opt-in does.
    signup_and_confirm(config, "extra", ADDRESS)
    assert membership(database, ADDRESS, "extra") == "active"
    assert cli(config, "subscribers", "add", ADDRESS, "--list", "main").exit_code == 0


def test_erasing_an_unknown_address_still_suppresses_it(cli, config, tmp_path):
    run = cli(config, "subscribers", "erase", "never@example.org")
    assert run.exit_code == 0 and "not held" in run.stdout
    people = tmp_path / "people.csv"
    people.write_text("email\nnever@example.org\nok@example.org\n", encoding="utf-8")
    assert "1 added, 0 updated, 0 invalid, 1 suppressed" in cli(config, "subscribers", "import", people, "--list", "n").stdout


def test_erasure_needs_the_key(cli, settings):
    run = cli(settings.with_overrides(newsletter_secret_key="short"), "subscribers", "erase", "a@example.org")
    assert run.exit_code == 2 and "NEWSLETTER_SECRET_KEY" in run.stderr
