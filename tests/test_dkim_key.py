"""The DKIM settings are checked when read: each problem is one ConfigError line naming the setting."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest

from newsletter.dkim_key import parse_dkim_key, read_dkim_key
from newsletter.errors import ConfigError
from newsletter.settings import load_settings, resolver_address
from tests.dnsserver import make_key

EC_KEY = b"""-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgevZzL1gdAFr88hb2
OF/2NxApJCzGCEDdfSp6VQO30hyhRANCAAQRWz+jn65BtOMvdyHKcvjBeBSDZH2r
1RTwjmYSi9R/zpBnuQ4EiMnCqfMPWiZqB4QdbAd0E7oH50VpuZ1P087G
-----END PRIVATE KEY-----
"""


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    return {"rsa": make_key("rsa", folder), "ed25519": make_key("ed25519", folder)}


def settings_error(**env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    return str(caught.value)


def test_both_kinds_read(keys):
    rsa, ed = read_dkim_key(keys["rsa"].path), read_dkim_key(keys["ed25519"].path)
    assert (rsa.kind, rsa.bits, rsa.algorithm) == ("rsa", 2048, b"rsa-sha256")
    assert (ed.kind, len(ed.seed), ed.algorithm) == ("ed25519", 32, b"ed25519-sha256")
    # dknewkey's Ed25519 file (the bare base64 seed) is the same key.
    assert parse_dkim_key(ed.material + b"\n", "seed").seed == ed.seed
    assert "seed" not in repr(ed) and "material" not in repr(rsa)  # the secret is never shown


def test_each_bad_setting_is_named(keys, tmp_path):
    good = {"NEWSLETTER_DKIM_SELECTOR": "mail", "NEWSLETTER_DKIM_PRIVATE_KEY": str(keys["rsa"].path)}
    assert load_settings(good).newsletter_dkim_selector == "mail"
    missing = str(tmp_path / "no-such.pem")
    assert settings_error(**{**good, "NEWSLETTER_DKIM_PRIVATE_KEY": missing}) == (
        f"NEWSLETTER_DKIM_PRIVATE_KEY: cannot read the key file {missing!r}: No such file or directory")
    ec = tmp_path / "ec.pem"
    ec.write_bytes(EC_KEY)
    assert settings_error(**{**good, "NEWSLETTER_DKIM_PRIVATE_KEY": str(ec)}).startswith(
        "NEWSLETTER_DKIM_PRIVATE_KEY: the key is neither RSA nor Ed25519")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key\n")
    assert settings_error(**{**good, "NEWSLETTER_DKIM_PRIVATE_KEY": str(junk)}).startswith(
        "NEWSLETTER_DKIM_PRIVATE_KEY: not a PEM private key")
    encrypted = tmp_path / "enc.pem"
    encrypted.write_text("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n")
    assert "is encrypted" in settings_error(**{**good, "NEWSLETTER_DKIM_PRIVATE_KEY": str(encrypted)})
    for selector in ("mail_2024", "-mail", "mail..x", "ma il"):
        assert settings_error(**{**good, "NEWSLETTER_DKIM_SELECTOR": selector}).startswith(
            "NEWSLETTER_DKIM_SELECTOR: not a DKIM selector"), selector
    assert settings_error(NEWSLETTER_DKIM_SELECTOR="mail").startswith("NEWSLETTER_DKIM_PRIVATE_KEY: must name")
    assert settings_error(NEWSLETTER_DKIM_PRIVATE_KEY=str(keys["rsa"].path)).startswith("NEWSLETTER_DKIM_SELECTOR:")
    assert settings_error(**good, NEWSLETTER_DKIM_DOMAIN="example").startswith("NEWSLETTER_DKIM_DOMAIN:")
    assert settings_error(NEWSLETTER_BOUNCE_ADDRESS="bounces").startswith("NEWSLETTER_BOUNCE_ADDRESS:")


def _der(tag: int, body: bytes) -> bytes:
    length = len(body)
    head = bytes([length]) if length < 128 else bytes([0x80 | ((length.bit_length() + 7) // 8)]) + length.to_bytes(
        (length.bit_length() + 7) // 8, "big")
    return bytes([tag]) + head + body


def test_a_short_rsa_key_is_refused():
    # A PKCS#1 structure with a 768-bit modulus (libraries refuse to make one; the check reads the modulus only).
    numbers = [0, (1 << 767) | 1, 65537] + [3] * 6
    der = _der(0x30, b"".join(_der(0x02, n.to_bytes((n.bit_length() + 8) // 8, "big")) for n in numbers))
    pem = b"-----BEGIN RSA PRIVATE KEY-----\n" + base64.encodebytes(der) + b"-----END RSA PRIVATE KEY-----\n"
    with pytest.raises(ConfigError, match="768 bits; DKIM needs at least 1024"):
        parse_dkim_key(pem, "small.pem")


def test_resolver_forms():
    assert resolver_address("127.0.0.1") == ("127.0.0.1", 53)
    assert resolver_address("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert resolver_address("[::1]:5353") == ("::1", 5353)
    assert resolver_address("::1") == ("::1", 53)
    with pytest.raises(ConfigError, match="NEWSLETTER_DNS_RESOLVER"):
        resolver_address("dns:x")


def test_the_cli_stops_before_anything_with_one_line(tmp_path, keys):
    env = {**os.environ, "NEWSLETTER_DKIM_SELECTOR": "mail", "NEWSLETTER_DKIM_PRIVATE_KEY": str(tmp_path / "gone.pem"),
           "NEWSLETTER_DATABASE": str(tmp_path / "n.db")}
    done = subprocess.run([sys.executable, "-m", "newsletter", "sends"], env=env, capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"Error: NEWSLETTER_DKIM_PRIVATE_KEY: cannot read the key file {str(tmp_path / 'gone.pem')!r}: "
        "No such file or directory"]
    assert not (tmp_path / "n.db").exists()
