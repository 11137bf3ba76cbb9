"""Who may see the dashboard: off without credentials, the token or named users, the session cookie's
attributes and lifetime, no open redirect, the strict policy header."""

from __future__ import annotations

import hashlib

import pytest

from newsletter.errors import ConfigError
from newsletter.server import dashboard_auth
from newsletter.settings import load_settings

TOKEN = "dashboard-test-token-0123456789"
ANN = "correct horse battery staple 42"


def users(**passwords: str) -> str:
    return ",".join(f"{name}:{hashlib.sha256(p.encode()).hexdigest()}" for name, p in passwords.items())


def test_off_without_a_token_or_users(client):
    for path in ("/admin", "/admin/lists", "/admin/signin", "/admin/sends/1"):
        answer = client.get(path)
        assert answer.status_code == 404 and "NEWSLETTER_ADMIN_TOKEN" in answer.text, path
    assert client.post("/admin/signin", data={"password": "anything"}).status_code == 404


def test_named_users_sessions_and_revocation(settings, make_client):
    config = settings.with_overrides(newsletter_admin_users=users(ann=ANN, bob="another long password 99"),
                                     newsletter_public_url="https://news.example.org")
    with make_client(config) as client:
        page = client.get("/admin/signin")
        assert 'name="name"' in page.text and page.headers["content-security-policy"].startswith("default-src 'none'")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        assert client.post("/admin/signin", data={"name": "ann", "password": "wrong"}).status_code == 401
        assert client.post("/admin/signin", data={"name": "bob", "password": ANN}).status_code == 401
        signed = client.post("/admin/signin", data={"name": "ann", "password": ANN, "next": "//evil.example/x"})
        assert signed.status_code == 303 and signed.headers["location"] == "/admin"  # never another host
        cookie = signed.headers["set-cookie"]
        for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/admin"):
            assert attribute in cookie, attribute
        value = client.cookies.get(dashboard_auth.COOKIE)  # a Secure cookie: sent by hand over the test's http
        sends = client.get("/admin", cookies={dashboard_auth.COOKIE: value})
        assert sends.status_code == 200 and ">ann<" in sends.text
    # Ann's password changes: her old cookie no longer opens anything.
    changed = config.with_overrides(newsletter_admin_users=users(ann="a brand new long password 7"))
    with make_client(changed) as client:
        assert client.get("/admin", cookies={dashboard_auth.COOKIE: value}).status_code == 303


def test_stale_and_forged_cookies_and_the_token(settings, make_client):
    config = settings.with_overrides(newsletter_admin_token=TOKEN)
    stale = dashboard_auth.session_cookie(config, "admin", now=1_000_000)
    forged = dashboard_auth.session_cookie(config.with_overrides(newsletter_secret_key="x" * 40), "admin")
    with make_client(config) as client:
        assert client.get("/admin", cookies={dashboard_auth.COOKIE: stale}).status_code == 303
        assert client.get("/admin", cookies={dashboard_auth.COOKIE: forged}).status_code == 303
        signed = client.post("/admin/signin", data={"password": TOKEN, "next": "/admin/lists"})
        assert signed.headers["location"] == "/admin/lists" and "Secure" not in signed.headers["set-cookie"]  # plain http
        assert client.get("/admin/lists").status_code == 200
        out = client.post("/admin/signout")
        assert out.status_code == 303 and client.get("/admin").status_code == 303


def test_settings_refuse_bad_credentials_without_echoing_them():
    with pytest.raises(ConfigError) as short:
        load_settings({"NEWSLETTER_ADMIN_TOKEN": "short"})
    assert short.value.subject == "NEWSLETTER_ADMIN_TOKEN" and "short" not in str(short.value)
    with pytest.raises(ConfigError) as bad:
        load_settings({"NEWSLETTER_ADMIN_USERS": "ann:secretpassword"})
    assert bad.value.subject == "NEWSLETTER_ADMIN_USERS" and "secretpassword" not in str(bad.value)
    assert load_settings({"NEWSLETTER_ADMIN_USERS": users(ann=ANN)}).admin_users == {
        "ann": hashlib.sha256(ANN.encode()).hexdigest()}


def test_a_large_send_is_prepared_in_the_background(settings, make_client, monkeypatch):
    import time

    from newsletter.store import rollups
    from tests.tracking.dashboard_seed import seed_dashboard

    monkeypatch.setattr(rollups, "REBUILD_OVER", 5)  # the seeded send's 19 events count as many
    config = settings.with_overrides(newsletter_admin_token=TOKEN)
    ids = seed_dashboard(config.newsletter_database)
    with make_client(config) as client:
        client.post("/admin/signin", data={"password": TOKEN})
        first = client.get(f"/admin/sends/{ids['done']}")
        assert first.status_code == 202 and "being worked out" in first.text and 'http-equiv="refresh"' in first.text
        deadline = time.monotonic() + 30
        while (page := client.get(f"/admin/sends/{ids['done']}")).status_code == 202:
            assert time.monotonic() < deadline, "the figures were never prepared"
            time.sleep(0.05)
        assert page.status_code == 200 and 'data-label="Human opens" data-value="3"' in page.text
