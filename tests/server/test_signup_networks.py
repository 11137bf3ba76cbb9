"""The signup limit per IP through the app: an IPv6 /64 counts as one, and X-Forwarded-For is believed
from NEWSLETTER_TRUSTED_PROXIES only (loopback by default)."""

from __future__ import annotations

import itertools

import pytest

from newsletter.audience.lists import create_list
from newsletter.errors import ConfigError
from newsletter.server.app import create_app
from newsletter.settings import load_settings
from tests.audience.helpers import query

_emails = (f"person{i}@example.org" for i in itertools.count())


@pytest.fixture
def config(settings, tmp_path):
    config = settings.with_overrides(newsletter_outbox=str(tmp_path / "outbox"), newsletter_signup_limit_ip=3,
                                     newsletter_signup_limit_address=100, newsletter_signup_ip="stored")
    create_list("news", config, title="News", signup=True)
    return config


def signup(app, peer: str, forwarded: str | None = None) -> int:
    """One signup (a new address each time) from a client connected from ``peer``; the answer's status."""
    from starlette.testclient import TestClient

    client = TestClient(app, client=(peer, 40000))  # no `with`: the app's lifespan stays with the test
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return client.post("/subscribe/news", data={"email": next(_emails), "consent": "yes"}, headers=headers).status_code


def test_an_ipv6_64_counts_as_one_client(config):
    app = create_app(config)
    same_64 = ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2:abcd::9"]
    assert [signup(app, peer) for peer in same_64] == [200, 200, 200, 429]
    assert signup(app, "2001:db8:1:3::1") == 200  # the next /64 is someone else
    assert [signup(app, "192.0.2.1") for _ in range(4)] == [200, 200, 200, 429]
    assert signup(app, "::ffff:192.0.2.1") == 429  # the same IPv4 client, written as IPv6
    assert signup(app, "192.0.2.2") == 200


def test_forwarded_for_is_believed_from_loopback_proxies_only(config):
    app = create_app(config)
    # Behind the proxy on loopback: each forwarded client is counted on its own.
    assert [signup(app, "127.0.0.1", "198.51.100.1") for _ in range(4)] == [200, 200, 200, 429]
    assert signup(app, "127.0.0.1", "198.51.100.2") == 200
    assert signup(app, "::1", "2001:db8:9:9::1, 127.0.0.1") == 200
    # A client elsewhere cannot pick its address by sending the header.
    answers = [signup(app, "203.0.113.9", f"198.51.100.{i}") for i in range(10, 14)]
    assert answers == [200, 200, 200, 429]
    ips = {ip for (ip,) in query(config.newsletter_database, "SELECT ip FROM consents")}
    assert ips == {"198.51.100.1", "198.51.100.2", "2001:db8:9:9::1", "203.0.113.9"}  # what the records keep too


def test_trusted_proxies_come_from_the_setting(config):
    app = create_app(config.with_overrides(newsletter_trusted_proxies="10.0.0.0/8"))
    assert [signup(app, "10.1.2.3", f"198.51.100.{i}") for i in range(4)] == [200] * 4  # four clients
    assert [signup(app, "127.0.0.1", f"198.51.100.{i}") for i in range(20, 24)] == [200, 200, 200, 429]


def test_a_trusted_proxy_that_is_not_an_address_is_refused():
    with pytest.raises(ConfigError, match="NEWSLETTER_TRUSTED_PROXIES: 'proxy.internal' is not an IP address"):
        load_settings({"NEWSLETTER_TRUSTED_PROXIES": "10.0.0.1, proxy.internal"})
    assert load_settings({"NEWSLETTER_TRUSTED_PROXIES": ""}).trusted_proxies == []
