"""SendGrid's 10,000-byte substitution limit is measured in UTF-8 bytes."""

from newsletter.delivery.sendgrid import MAX_SUBSTITUTION_BYTES, _substitution_bytes


def test_short_values_count_characters_exactly_when_ascii():
    subs = {"%%name%%": "Ada", "%%email%%": "ada@example.org"}
    assert _substitution_bytes(subs) == sum(len(k) + len(v) for k, v in subs.items())


def test_multibyte_values_near_the_limit_are_counted_in_bytes():
    # 3,000 characters of 4-byte emoji: 3,000 characters but 12,000 bytes.
    subs = {"%%name%%": "\U0001F600" * 3000}
    assert _substitution_bytes(subs) == len("%%name%%") + 12_000
    assert _substitution_bytes(subs) >= MAX_SUBSTITUTION_BYTES
