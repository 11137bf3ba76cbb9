"""Signed tokens: round trips, tampering, purpose separation, key checks."""

import pytest

from newsletter import tokens
from newsletter.errors import ConfigError

KEY = "k" * 32


def test_round_trips():
    url = tokens.unsubscribe_url("https://n.example.org/", KEY, 42, 7)
    assert url.startswith("https://n.example.org/u/")
    assert tokens.read_unsubscribe(KEY, url.rsplit("/", 1)[1]) == (42, 7)
    click = tokens.click_url("https://n.example.org", KEY, 7, 42, 3).rsplit("/", 1)[1]
    assert tokens.read_click(KEY, click) == (7, 42, 3)
    pixel = tokens.open_url("https://n.example.org", KEY, 7, 42).rsplit("/", 1)[1]
    assert tokens.read_open(KEY, pixel.removesuffix(".gif")) == (7, 42)


def test_tampering_and_wrong_key_and_purpose_all_fail_alike():
    token = tokens.sign(KEY, "unsubscribe", [42, 7])
    payload, signature = token.rsplit(".", 1)
    forged = tokens.sign("x" * 32, "unsubscribe", [43, 7])
    bad = [
        payload + "." + signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB"),
        forged,
        tokens.sign(KEY, "open", [42, 7]),
        "",
        "not-a-token",
    ]
    for candidate in bad:
        with pytest.raises(tokens.InvalidToken) as caught:
            tokens.read_unsubscribe(KEY, candidate)
        assert str(caught.value) == "invalid token"


def test_payload_shape_is_checked():
    with pytest.raises(tokens.InvalidToken):
        tokens.read_unsubscribe(KEY, tokens.sign(KEY, "unsubscribe", ["42", 7]))


def test_short_or_missing_key_is_a_config_error():
    with pytest.raises(ConfigError, match="NEWSLETTER_SECRET_KEY"):
        tokens.sign("", "unsubscribe", [1, 2])
    for bad in ("", "short", "x" * (tokens.MIN_KEY_LENGTH - 1)):
        with pytest.raises(ConfigError, match="at least 16 characters"):
            tokens.require_key(bad)
    tokens.require_key("x" * tokens.MIN_KEY_LENGTH)


def test_tokens_are_not_enumerable():
    assert tokens.sign(KEY, "unsubscribe", [1, 0]) != tokens.sign(KEY, "unsubscribe", [2, 0])
    assert len(tokens.sign(KEY, "unsubscribe", [1, 0]).rsplit(".", 1)[1]) == 22  # 128-bit HMAC-SHA256 tag


def test_payload_swapped_under_a_valid_signature_fails():
    genuine = tokens.sign(KEY, "unsubscribe", [1, 0])
    other_body = tokens.sign(KEY, "unsubscribe", [2, 0]).split(".")[0]
    with pytest.raises(tokens.InvalidToken):
        tokens.read_unsubscribe(KEY, other_body + "." + genuine.split(".")[1])
    with pytest.raises(tokens.InvalidToken):
        tokens.read_unsubscribe(KEY, genuine + "!")  # one spelling per token
    with pytest.raises(tokens.InvalidToken):
        tokens.read_unsubscribe(KEY, "é" + genuine)


def test_signature_is_standard_hmac_sha256_of_the_json_payload():
    """The fast path (precomputed HMAC states, ints written directly) gives the textbook token."""
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    for purpose, payload in [("unsubscribe", [42, 7]), ("click", [-1, 0, 10**30]), ("open", [True, 2]),
                             ("unsubscribe", {"a": "é"}), ("open", [])]:
        key = hmac.new(KEY.encode(), b"newsletter.token." + purpose.encode(), hashlib.sha256).digest()
        body = b64(json.dumps(payload, separators=(",", ":")).encode())
        expected = f"{body}.{b64(hmac.new(key, body.encode(), hashlib.sha256).digest()[:16])}"
        assert tokens.sign(KEY, purpose, payload) == expected
        assert tokens.verify(KEY, purpose, expected) == payload


def test_recipient_urls_match_the_url_functions():
    """A send's keyed-once signer gives exactly the URLs the functions give, and they verify."""
    urls = tokens.RecipientURLs("https://news.example.org/", KEY, 7)
    for sid in (1, 42, 10**12):
        assert urls.unsubscribe(sid) == tokens.unsubscribe_url("https://news.example.org", KEY, sid, 7)
        assert urls.preferences(sid) == tokens.preferences_url("https://news.example.org", KEY, sid)
        assert tokens.read_unsubscribe(KEY, urls.unsubscribe(sid).rsplit("/", 1)[1]) == (sid, 7)
        assert tokens.read_preferences(KEY, urls.preferences(sid).rsplit("/", 1)[1]) == sid
