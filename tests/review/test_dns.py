"""``newsletter check --dns`` against a DNS server of the tests' own on loopback (dnslib).

A good zone passes; each missing or wrong record is named by its own finding code.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.review.dns import dns_findings, organisational_domain, summary_line
from newsletter.settings import load_settings
from tests.dnsserver import DNSZone, make_key

runner = CliRunner()


@pytest.fixture(scope="module")
def zone():
    """One loopback DNS server for the module; each test writes its own records."""
    served = DNSZone().start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """An RSA and an Ed25519 key, and a second RSA key that is not ours."""
    folder = tmp_path_factory.mktemp("keys")
    return {"rsa": make_key("rsa", folder), "ed25519": make_key("ed25519", folder),
            "stranger": make_key("rsa", folder, "stranger")}


def good_zone(zone: DNSZone, key) -> None:
    """Everything in order: From example.org, bounces to news.example.org, DKIM selector 'mail'."""
    zone.clear()
    zone.add("example.org", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
    zone.add("example.org", "TXT", "google-site-verification=abc")  # other TXT records do not confuse it
    zone.add("news.example.org", "TXT", "v=spf1 ip4:192.0.2.10 ~all")
    zone.add("news.example.org", "MX", "10 mx.news.example.org")
    zone.add("mail._domainkey.example.org", "TXT", key.record)
    zone.add("_dmarc.example.org", "TXT", "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.org")


@pytest.fixture
def env(monkeypatch, zone, keys):
    """Settings in the environment, as a user sets them; returns a function to change one."""
    values = {
        "NEWSLETTER_FROM": "Harbour News <news@example.org>",
        "NEWSLETTER_BOUNCE_ADDRESS": "bounces@news.example.org",
        "NEWSLETTER_DKIM_SELECTOR": "mail",
        "NEWSLETTER_DKIM_PRIVATE_KEY": str(keys["rsa"].path),
        "NEWSLETTER_DNS_RESOLVER": zone.resolver,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return monkeypatch.setenv


@pytest.fixture
def clean_issue(write_issue):
    """An issue with no findings of its own."""
    return write_issue("Hello [a](https://a.example.com/)\n")


def check_dns(issue) -> tuple[int, list[str]]:
    result = runner.invoke(app, ["check", str(issue), "--dns"])
    codes = [line.rsplit("[", 1)[1].rstrip("]") for line in result.stderr.splitlines() if line.endswith("]")]
    return result.exit_code, codes


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_a_good_zone_passes(env, zone, keys, clean_issue, kind):
    env("NEWSLETTER_DKIM_PRIVATE_KEY", str(keys[kind].path))
    good_zone(zone, keys[kind])
    assert check_dns(clean_issue) == (0, [])
    asked = set(zone.queries)
    assert {("example.org", "TXT"), ("news.example.org", "TXT"), ("mail._domainkey.example.org", "TXT"),
            ("_dmarc.example.org", "TXT"), ("news.example.org", "MX")} <= asked


def _drop(zone: DNSZone, name: str, kind: str, keep=lambda value: False) -> None:
    records = zone._resolver.records
    records[(name, kind)] = [r for r in records.get((name, kind), []) if keep(str(r))]


BROKEN = {
    "dns-spf-missing": lambda zone, keys: _drop(zone, "example.org", "TXT", keep=lambda v: "spf1" not in v),
    "dns-spf-plus-all": lambda zone, keys: zone.put("news.example.org", "TXT", "v=spf1 a mx +all"),
    "dns-spf-multiple": lambda zone, keys: zone.add("example.org", "TXT", "v=spf1 include:_spf.example.net -all"),
    "dns-dkim-missing": lambda zone, keys: _drop(zone, "mail._domainkey.example.org", "TXT"),
    "dns-dkim-mismatch": lambda zone, keys: zone.put("mail._domainkey.example.org", "TXT", keys["stranger"].record),
    "dns-dmarc-missing": lambda zone, keys: _drop(zone, "_dmarc.example.org", "TXT"),
    "dns-dmarc-invalid": lambda zone, keys: zone.put("_dmarc.example.org", "TXT", "v=DMARC1; rua=mailto:x@example.org"),
    "dns-dmarc-misaligned": lambda zone, keys: zone.put("_dmarc.example.org", "TXT", "v=DMARC1; p=reject; aspf=s"),
    "dns-mx-missing": lambda zone, keys: _drop(zone, "news.example.org", "MX"),
}


@pytest.mark.parametrize("code", sorted(BROKEN))
def test_each_missing_or_wrong_record_is_named(env, zone, keys, clean_issue, code):
    good_zone(zone, keys["rsa"])
    BROKEN[code](zone, keys)
    status, codes = check_dns(clean_issue)
    assert (status, codes) == (1, [code])


def test_an_ed25519_record_for_an_rsa_key_is_a_mismatch(env, zone, keys, clean_issue):
    good_zone(zone, keys["rsa"])
    zone.put("mail._domainkey.example.org", "TXT", keys["ed25519"].record)
    assert check_dns(clean_issue) == (1, ["dns-dkim-mismatch"])
    zone.put("mail._domainkey.example.org", "TXT", "v=DKIM1; k=rsa; p=")  # revoked
    assert check_dns(clean_issue) == (1, ["dns-dkim-mismatch"])


def test_misaligned_dkim_domain_and_a_missing_zone(env, zone, keys, clean_issue):
    good_zone(zone, keys["rsa"])
    env("NEWSLETTER_DKIM_DOMAIN", "mailer.example.net")
    zone.add("mail._domainkey.mailer.example.net", "TXT", keys["rsa"].record)
    assert check_dns(clean_issue) == (1, ["dns-dmarc-misaligned"])
    zone.clear()  # nothing published at all: every record is named
    status, codes = check_dns(clean_issue)
    assert status == 1
    assert codes == ["dns-spf-missing", "dns-spf-missing", "dns-dkim-missing", "dns-dmarc-missing", "dns-mx-missing"]


def test_without_dkim_settings_a_warning_only(env, zone, keys, clean_issue, monkeypatch):
    good_zone(zone, keys["rsa"])
    monkeypatch.delenv("NEWSLETTER_DKIM_SELECTOR")
    monkeypatch.delenv("NEWSLETTER_DKIM_PRIVATE_KEY")
    assert check_dns(clean_issue) == (0, ["dns-dkim-unset"])


def test_the_library_function_and_its_summary_line(env, zone, keys):
    good_zone(zone, keys["rsa"])
    settings = load_settings()
    assert dns_findings(settings, settings.newsletter_from) == []
    assert "in order" in summary_line([])
    _drop(zone, "news.example.org", "MX")
    findings = dns_findings(settings, "Other <someone@example.org>")
    assert [f.code for f in findings] == ["dns-mx-missing"] and findings[0].where == "news.example.org"
    assert "dns-mx-missing" in summary_line(findings)


def test_dmarc_of_the_organisational_domain_counts(env, zone, keys, clean_issue):
    good_zone(zone, keys["rsa"])
    env("NEWSLETTER_FROM", "News <news@mail.example.org>")
    env("NEWSLETTER_BOUNCE_ADDRESS", "bounces@news.example.org")
    env("NEWSLETTER_DKIM_DOMAIN", "example.org")
    zone.add("mail.example.org", "TXT", "v=spf1 -all")
    assert check_dns(clean_issue) == (0, [])
    assert organisational_domain("a.b.example.co.uk") == "example.co.uk"


def test_a_server_that_fails_or_does_not_answer(env, zone, keys, clean_issue, monkeypatch):
    good_zone(zone, keys["rsa"])
    zone.fail("_dmarc.example.org")
    assert check_dns(clean_issue) == (1, ["dns-lookup-failed"])  # the other records are still checked
    result = runner.invoke(app, ["check", str(clean_issue), "--dns"])
    assert "_dmarc.example.org: error: 127.0.0.1:" in result.stderr and "SERVFAIL" in result.stderr
    # Nothing listens: one finding after one timeout, not one per record.
    import newsletter.review.dns as dns_check

    monkeypatch.setattr(dns_check.Lookup, "__init__", _quick(dns_check.Lookup.__init__))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mute:  # bound, never answers
        mute.bind(("127.0.0.1", 0))
        env("NEWSLETTER_DNS_RESOLVER", f"127.0.0.1:{mute.getsockname()[1]}")
        status, codes = check_dns(clean_issue)
    assert (status, codes) == (1, ["dns-lookup-failed"])


def _quick(init):
    def quick_init(self, settings):
        init(self, settings)
        self.resolver.timeout = self.resolver.lifetime = 0.3  # the test waits for one timeout only

    return quick_init


def test_a_bad_resolver_setting_is_one_line(run_cli_env, clean_issue):
    done = run_cli_env(["check", str(clean_issue), "--dns"], NEWSLETTER_DNS_RESOLVER="127.0.0.1:99999")
    assert done.returncode == 2
    assert done.stderr.strip() == "Error: NEWSLETTER_DNS_RESOLVER: expected host or host:port, got '127.0.0.1:99999'"


@pytest.fixture
def run_cli_env():
    """``python -m newsletter ARGS`` with extra settings in the environment."""
    import os

    def run(args, **settings):
        return subprocess.run([sys.executable, "-m", "newsletter", *args], env={**os.environ, **settings},
                              capture_output=True, text=True, timeout=60)

    return run
