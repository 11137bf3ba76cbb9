"""Signup and double opt-in over HTTP: one answer for every case, limits, honeypot, origins, tokens."""

from __future__ import annotations

import time

import pytest

from newsletter import tokens
from newsletter.audience.consent import text_sha256
from newsletter.audience.lists import create_list
from newsletter.store import connect, transaction
from newsletter.store import subscribers as people
from tests.audience.helpers import add_people, confirmation_files, membership, query, read_confirmation

WEBSITE = "https://www.example.org"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def config(settings, tmp_path):
    """Server settings with an outbox, a signup list 'news' and a list 'staff' without signup."""
    config = settings.with_overrides(newsletter_outbox=str(tmp_path / "outbox"), newsletter_signup_origins=WEBSITE,
                                     newsletter_signup_limit_ip=100, newsletter_signup_limit_address=100)
    create_list("news", config, title="Harbour <News>", signup=True)
    create_list("staff", config)
    return config


@pytest.fixture
def http(config, make_client):
    with make_client(config) as client:
        yield client


def post(http, address, list_name="news", **extra):
    data = {"email": address, "name": "Ann", "consent": "yes", **extra}
    return http.post(f"/subscribe/{list_name}", data=data)


def test_the_form_page(http):
    page = http.get("/subscribe/news")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Harbour &lt;News&gt;" in page.text and "<News>" not in page.text
    assert 'name="email"' in page.text and 'name="consent"' in page.text and 'name="website"' in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert http.get("/subscribe/staff").status_code == 404
    assert http.get("/subscribe/nope").status_code == 404


def test_same_answer_for_new_pending_active_and_suppressed(http, config):
    database = config.newsletter_database
    [gone] = add_people(database, "other", [("gone@example.org", {})])
    conn = connect(database)
    with transaction(conn):
        people.set_status(conn, gone, "unsubscribed", "manual")
    conn.close()
    add_people(database, "news", [("member@example.org", {})])

    answers = [post(http, a) for a in ("new@example.org", "new@example.org", "member@example.org", "gone@example.org")]
    assert len({(a.status_code, a.text) for a in answers}) == 1 and answers[0].status_code == 200
    assert "confirmation link is on its way" in answers[0].text
    sent = sorted(read_confirmation(p)[0]["To"] for p in confirmation_files(config.newsletter_outbox))
    assert sent == ["gone@example.org", "new@example.org"]  # one for the new address, none for a member
    assert membership(database, "new@example.org", "news") == "pending"
    assert membership(database, "member@example.org", "news") == "active"

    as_json = [http.post("/subscribe/news", json={"email": a, "consent": True})
               for a in ("json@example.org", "member@example.org")]
    assert as_json[0].json() == as_json[1].json() == {"message": answers[0].text.split("<p>")[1].split("</p>")[0]}


def test_confirm_get_changes_nothing_post_confirms(http, config):
    post(http, "ann@example.org")
    [eml] = confirmation_files(config.newsletter_outbox)
    message, text, url = read_confirmation(eml)
    assert message["Subject"] == "Please confirm your subscription to Harbour <News>"
    html = message.get_body(preferencelist=("html",)).get_content()
    assert url.replace("&", "&amp;") in html and "Ann" not in text + html  # no stranger-typed name in the email
    assert "Harbour &lt;News&gt;" in html
    path = url.split("testserver", 1)[1]
    for _ in range(2):
        page = http.get(path)
        assert page.status_code == 200 and "Confirm my subscription" in page.text and "ann@example.org" in page.text
    assert membership(config.newsletter_database, "ann@example.org", "news") == "pending"
    done = http.post(path)
    assert done.status_code == 200 and "You are subscribed" in done.text
    assert membership(config.newsletter_database, "ann@example.org", "news") == "active"
    assert http.post(path).status_code == 200  # again: harmless
    [(name, text_hash, confirmed)] = query(config.newsletter_database,
                                          "SELECT s.name, c.consent_sha256, c.confirmed_at FROM consents c"
                                          " JOIN subscribers s ON s.id = c.subscriber_id")
    assert (name, text_hash) == ("Ann", text_sha256(config.newsletter_consent_text)) and confirmed


def test_expired_and_tampered_confirm_tokens(http, config):
    post(http, "ann@example.org")
    [(sid, list_id, consent_id)] = query(config.newsletter_database, "SELECT subscriber_id, list_id, id FROM consents")
    key = config.newsletter_secret_key
    expired = tokens.confirm_url("", key, sid, list_id, consent_id, int(time.time()) - 1)
    valid = tokens.confirm_url("", key, sid, list_id, consent_id, int(time.time()) + 3600)
    body, signature = valid.rsplit(".", 1)
    tampered = f"{body}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    other_purpose = "/confirm/" + tokens.sign(key, "unsubscribe", [sid, list_id, consent_id, int(time.time()) + 3600])
    for path in (expired, tampered, other_purpose, "/confirm/nonsense"):
        for method in (http.get, http.post):
            answer = method(path)
            assert answer.status_code == 404 and "not valid or has expired" in answer.text, path
    assert membership(config.newsletter_database, "ann@example.org", "news") == "pending"
    assert http.post(valid).status_code == 200
    assert membership(config.newsletter_database, "ann@example.org", "news") == "active"


def test_honeypot_drops_bots_silently(http, config):
    human = post(http, "human@example.org")
    bot = post(http, "bot@example.org", website="https://spam.example.net")
    assert (bot.status_code, bot.text) == (human.status_code, human.text)
    assert query(config.newsletter_database, "SELECT email FROM subscribers") == [("human@example.org",)]
    assert len(confirmation_files(config.newsletter_outbox)) == 1


def test_closed_lists_bad_input_and_body_limits(http, config):
    assert post(http, "a@example.org", "staff").status_code == 404
    assert post(http, "a@example.org", "nope").status_code == 404
    assert http.post("/subscribe/staff", json={"email": "a@example.org", "consent": True}).status_code == 404
    bad = post(http, "not an address")
    assert bad.status_code == 400 and "Please check the form" in bad.text
    assert post(http, "a@example.org", consent="").status_code == 400
    assert http.post("/subscribe/news", json={"email": ["x"], "consent": True}).status_code == 400
    assert http.post("/subscribe/news", json=["a@example.org"]).status_code == 400
    assert http.post("/subscribe/news", content=b"email=a", headers={"Content-Type": "text/plain"}).status_code == 415
    huge = http.post("/subscribe/news", data={"email": "a@example.org", "consent": "yes", "name": "x" * 20_000})
    assert huge.status_code == 413
    assert post(http, "a@example.org", name="<script>alert(1)</script>" * 20).status_code == 400  # too long
    assert query(config.newsletter_database, "SELECT COUNT(*) FROM subscribers") == [(0,)]


def test_rate_limits_per_ip_and_per_address(config, make_client):
    with make_client(config.with_overrides(newsletter_signup_limit_address=2)) as http:
        assert [post(http, "same@example.org").status_code for _ in range(3)] == [200, 200, 429]
        assert post(http, "other@example.org").status_code == 200
    with make_client(config.with_overrides(newsletter_signup_limit_ip=3)) as http:
        codes = [post(http, f"p{i}@example.org").status_code for i in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = http.post("/subscribe/news", json={"email": "j@example.org", "consent": True})
        assert limited.status_code == 429 and "error" in limited.json()


def test_one_confirmation_per_address_per_interval(config, make_client):
    with make_client(config) as http:
        for _ in range(3):
            post(http, "ann@example.org")
    assert len(confirmation_files(config.newsletter_outbox)) == 1
    with make_client(config.with_overrides(newsletter_confirm_interval_minutes=0)) as http:
        post(http, "bo@example.org")
        post(http, "bo@example.org")
    bo = [p for p in confirmation_files(config.newsletter_outbox) if read_confirmation(p)[0]["To"] == "bo@example.org"]
    assert len(bo) == 1 and bo[0].stat().st_size  # the same record's file, written twice
    assert query(config.newsletter_database, "SELECT COUNT(*) FROM consents") == [(2,)]


def test_json_from_allowed_and_refused_origins(http, config):
    allowed = http.post("/subscribe/news", json={"email": "a@example.org", "consent": True},
                        headers={"Origin": WEBSITE})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == WEBSITE
    preflight = http.options("/subscribe/news", headers={"Origin": WEBSITE, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == WEBSITE
    assert "POST" in preflight.headers["access-control-allow-methods"]

    refused = http.post("/subscribe/news", json={"email": "b@example.org", "consent": True},
                        headers={"Origin": "https://evil.example.net"})
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
    assert http.options("/subscribe/news", headers={"Origin": "https://evil.example.net"}).status_code == 403
    same_site = http.post("/subscribe/news", json={"email": "c@example.org", "consent": True},
                          headers={"Origin": "http://testserver"})
    assert same_site.status_code == 200
    # A plain form post is accepted from anywhere (the pasted snippet); double opt-in guards it.
    assert http.post("/subscribe/news", data={"email": "d@example.org", "consent": "yes"},
                     headers={"Origin": "https://evil.example.net"}).status_code == 200
    assert {e for (e,) in query(config.newsletter_database, "SELECT email FROM subscribers")} == {
        "a@example.org", "c@example.org", "d@example.org"}
    [(source,)] = query(config.newsletter_database, "SELECT c.source FROM consents c JOIN subscribers s"
                        " ON s.id = c.subscriber_id WHERE s.email = 'a@example.org'")
    assert source == f"json {WEBSITE}"


def test_a_failed_confirmation_email_can_be_retried(config, make_client, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the outbox folder should be")
    with make_client(config.with_overrides(newsletter_outbox=str(blocked))) as http:
        assert post(http, "ann@example.org").status_code == 200
    assert query(config.newsletter_database, "SELECT mailed_at FROM consents") == [(None,)]
    with make_client(config) as http:
        post(http, "ann@example.org")
    assert len(confirmation_files(config.newsletter_outbox)) == 1
