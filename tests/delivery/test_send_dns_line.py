"""`send`'s confirmation says whether the From domain's DNS is ready, for backends that reach real
people (SMTP, SendGrid), asking the tests' own DNS server; the outbox looks nothing up."""

from __future__ import annotations

import pytest

from tests.dnsserver import DNSZone, make_key


@pytest.fixture
def zone():
    """A loopback DNS server of this test's own."""
    served = DNSZone().start()
    yield served
    served.stop()


def publish_everything(zone: DNSZone, record: str) -> None:
    """SPF, the DKIM key at mail._domainkey, DMARC and MX for example.org (From and bounce domain)."""
    zone.add("example.org", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
    zone.add("example.org", "MX", "10 mx.example.org")
    zone.add("mail._domainkey.example.org", "TXT", record)
    zone.add("_dmarc.example.org", "TXT", "v=DMARC1; p=quarantine")


def test_smtp_confirmation_shows_the_dns_line(cli, smtp_settings, smtp_server, issue, make_list, zone, tmp_path):
    handler, _ = smtp_server
    make_list("news", 2)
    key = make_key("rsa", tmp_path)
    config = smtp_settings.with_overrides(newsletter_dns_resolver=zone.resolver, newsletter_dkim_selector="mail",
                                          newsletter_dkim_private_key=str(key.path))
    run = cli(config, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 0, run.output
    # An empty zone: every record is named, one line.
    assert "DNS:        4 problem(s): dns-dkim-missing, dns-dmarc-missing, dns-mx-missing, dns-spf-missing" in run.stdout
    assert ("example.org", "TXT") in zone.queries and ("example.org", "MX") in zone.queries
    assert len(handler.messages) == 2  # the line informs; it does not stop the send

    publish_everything(zone, key.record)
    make_list("other", 1)  # a second send, now that the records are published
    run = cli(config, "send", issue, "--list", "other", "--yes")
    assert run.exit_code == 0, run.output
    assert "DNS:        SPF, DKIM, DMARC and the bounce MX are in order" in run.stdout


def test_sendgrid_confirmation_shows_the_dns_line(cli, sendgrid_settings, sendgrid_server, issue, make_list, zone):
    make_list("news", 1)
    run = cli(sendgrid_settings.with_overrides(newsletter_dns_resolver=zone.resolver),
              "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 0, run.output
    assert "DNS:        " in run.stdout and "dns-spf-missing" in run.stdout
    assert "dns-dkim-unset" not in run.stdout  # SendGrid signs with its own keys


def test_the_outbox_looks_nothing_up(cli, settings, issue, make_list, zone):
    make_list("news", 2)
    run = cli(settings.with_overrides(newsletter_dns_resolver=zone.resolver), "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 0, run.output
    assert "Backend:    outbox" in run.stdout and "DNS:" not in run.stdout
    assert zone.queries == []
