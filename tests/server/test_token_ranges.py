"""A signed token whose integers no database row can have gets the answer of any invalid token, not a 500."""

from __future__ import annotations

import time

import pytest

from newsletter import tokens
from tests.tracking.seeding import SECRET

TOO_LARGE = 2**63  # one past a signed 64-bit integer: SQLite's driver overflows, PostgreSQL's bigint too

#: (method, path prefix, purpose, a valid payload's length, path suffix)
ROUTES = [
    ("GET", "/u/", "unsubscribe", 2, ""),
    ("POST", "/u/", "unsubscribe", 2, ""),
    ("GET", "/o/", "open", 2, ".gif"),
    ("GET", "/c/", "click", 3, ""),
    ("GET", "/confirm/", "confirm", 4, ""),
    ("POST", "/confirm/", "confirm", 4, ""),
    ("GET", "/p/", "preferences", 1, ""),
    ("POST", "/p/", "preferences", 1, ""),
]


@pytest.mark.parametrize(("method", "prefix", "purpose", "size", "suffix"), ROUTES)
@pytest.mark.parametrize("value", [TOO_LARGE, -1])
def test_out_of_range_integers_are_an_invalid_token(client, method, prefix, purpose, size, suffix, value):
    far = int(time.time()) + 3600  # a confirm token's expiry: in the future, so only the id is wrong
    payload = [value] + [1] * (size - 1)
    if purpose == "confirm":
        payload[-1] = far
    token = tokens.sign(SECRET, purpose, payload)
    answer = client.request(method, f"{prefix}{token}{suffix}")
    invalid = client.request(method, f"{prefix}garbage{suffix}")
    assert invalid.status_code in (404, 400)
    assert (answer.status_code, answer.text) == (invalid.status_code, invalid.text)


def test_the_largest_id_is_still_read():
    token = tokens.sign(SECRET, "preferences", [TOO_LARGE - 1])
    assert tokens.read_preferences(SECRET, token) == TOO_LARGE - 1
    with pytest.raises(tokens.InvalidToken):
        tokens.read_preferences(SECRET, tokens.sign(SECRET, "preferences", [TOO_LARGE]))
