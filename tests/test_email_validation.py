"""The fast path for plain addresses agrees with email-validator: same verdicts, same normalised form."""

from __future__ import annotations

import random

import pytest
from email_validator import EmailNotValidError, validate_email

from newsletter.email_validation import fast_normalize, normalize_email
from newsletter.errors import InputError

TRICKY = [
    # plain, dots, plus signs, every atext character, case
    "ann@example.org", "Ann.Lee@Example.ORG", "ann.lee+news@example.org", "a+b+c@sub.example.co.uk",
    "x@x.io", "A@B.CD", "first.middle.last@mail.example.net", "o'brien@example.ie",
    "!#$%&'*+-/=?^_`{|}~@example.org", "user@EXAMPLE.COM", "USER@example.com",
    "user@mail-1.example.org", "123@456.example.com", "user@123.example", "user@example.c0m",
    # dots in the wrong places
    ".ann@example.org", "ann.@example.org", "an..n@example.org", "ann@.example.org", "ann@example..org",
    "ann@example.org.", "ann@example.org..", "ann@-example.org", "ann@example-.org", "ann@ex_ample.org",
    # no dot, numeric or odd top-level domains
    "ann@localhost", "ann@example", "ann@example.123", "ann@example.1a", "ann@example.a1", "ann@example.-a",
    # special-use and reserved names
    "ann@test", "ann@example.test", "ann@EXAMPLE.TEST", "ann@x.invalid", "ann@my.local", "ann@box.localhost",
    "ann@abc.onion", "ann@4.3.2.1.in-addr.arpa", "ann@example.com.local", "ann@local.example.com",
    # role mailboxes are case-insensitive (RFC 2142)
    "Info@Example.org", "POSTMASTER@example.org", "WebMaster@example.org", "infos@example.org", "Sales.Team@example.org",
    # hyphens: Punycode and reserved labels
    "ann@xn--bcher-kva.example", "ann@xn--bcher-kva.com", "ann@XN--BCHER-KVA.COM", "ann@xn--invalid.com",
    "ann@ab--cd.com", "ann@a--b.com", "ann@a-b-c.com", "ann@xn--.com", "ann@example.xn--p1ai",
    # internationalised
    "ann@bücher.example", "ann@BÜCHER.com", "jörg@example.org", "用户@例子.广告", "ann@ｅｘａｍｐｌｅ.com", "ann@example。com",
    "δοκιμή@παράδειγμα.δοκιμή", "ann@example.org\u200b", "ann\u00a0lee@example.org",
    # quoted local parts, display names, comments
    '"ann lee"@example.org', '"ann"@example.org', '"a@b"@example.org', '"a\\"b"@example.org', '""@example.org',
    "Ann <ann@example.org>", "<ann@example.org>", "ann(comment)@example.org", "ann@example.org (Ann)",
    # IP literals
    "ann@[192.0.2.1]", "ann@[IPv6:2001:db8::1]", "ann@[300.0.0.1]", "ann@192.0.2.1",
    # at-signs and spaces
    "ann", "@example.org", "ann@", "ann@@example.org", "a@b@example.org", "ann @example.org", "ann@exa mple.org",
    "ann＠example.org", "ann\\@example.org",
    # lengths: 63/64-character labels, long local parts, 254/255 characters in all
    f"ann@{'a' * 63}.com", f"ann@{'a' * 64}.com", f"ann@example.{'c' * 63}", f"ann@example.{'c' * 64}",
    f"{'l' * 64}@example.org", f"{'l' * 65}@example.org",
    f"{'l' * 64}@{'d' * 63}.{'d' * 63}.{'d' * 57}.org", f"{'l' * 64}@{'d' * 63}.{'d' * 63}.{'d' * 58}.org",
    f"{'l' * 200}@{'d' * 50}.org", f"a@{'.'.join(['b' * 60] * 5)}.com",
]

# Random addresses are drawn from plain pieces (most real addresses) or from tricky ones.
_PLAIN = ["a", "b", "Z", "k", "0", "7", ".", "+", "-", "_", "x", "Q"]
_PLAIN_LABEL = ["a", "b", "Z", "k", "0", "7", "-", "x", "Q", "mail", "example"]
_PIECES = ["a", "B", "z", "0", "9", ".", ".", "-", "-", "+", "_", "'", '"', "@", "[", "]", " ", "(", ")", "xn--",
           "ü", "é", "Ω", "例", ":", "\\", ",", "info", "test", "local", "com", "ORG", "..", "-.", ".-"]


def random_addresses(count: int, seed: int = 9) -> list[str]:
    """Plausible and implausible addresses: a local part, an @, a domain of a few labels."""
    rng = random.Random(seed)

    def part(pieces: list[str], low: int, high: int) -> str:
        return "".join(rng.choice(pieces) for _ in range(rng.randint(low, high)))

    out = []
    for n in range(count):
        local_pieces, label_pieces = (_PLAIN, _PLAIN_LABEL) if n % 2 else (_PIECES, _PIECES)
        labels = [part(label_pieces, 1, 4) for _ in range(rng.randint(1, 4))]
        if rng.random() < 0.7:
            labels[-1] = rng.choice(["com", "org", "io", "Org", "c0m", "test", "xn--p1ai", "a", "1"])
        out.append(f"{part(local_pieces, 1, 6)}@{'.'.join(labels)}")
    return out


def reference(address: str) -> str | None:
    """email-validator's normalised form, or None if it rejects the address (trimmed, as an import trims cells)."""
    try:
        return validate_email(address.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def ours(address: str) -> str | None:
    try:
        return normalize_email(address)
    except InputError:
        return None


@pytest.mark.parametrize("address", TRICKY)
def test_tricky_addresses_get_the_validators_verdict_and_form(address):
    expected = reference(address)
    assert ours(address) == expected
    fast = fast_normalize(address)
    assert fast is None or fast == expected, "the fast path accepted what email-validator rejects or normalises otherwise"


def test_random_addresses_agree_and_the_fast_path_takes_the_plain_ones():
    corpus = random_addresses(20_000)
    count_plain = len(corpus) // 2
    disagreements = [(a, ours(a), reference(a)) for a in corpus if ours(a) != reference(a)]
    assert disagreements == []
    fast_taken = [a for a in corpus if fast_normalize(a) is not None]
    assert all(reference(a) == fast_normalize(a) for a in fast_taken)
    valid = [a for a in corpus if reference(a) is not None]
    assert len(fast_taken) > count_plain // 10 and len(valid) > len(fast_taken), "the corpus should hold every kind"


def test_fast_path_handles_plain_addresses_and_declines_the_rest():
    assert fast_normalize("Ann.Lee+news@Mail.Example.ORG") == "Ann.Lee+news@mail.example.org"
    assert fast_normalize("Info@Example.org") == "info@example.org"
    for address in ['"ann lee"@example.org', "ann@bücher.example", "ann@[192.0.2.1]", "ann@xn--bcher-kva.com",
                    "ann@example.test", "ann@example.org.", "Ann <ann@example.org>"]:
        assert fast_normalize(address) is None, address


def test_blank_and_control_characters_are_refused_before_any_validation():
    for raw, message in [("", "empty address"), ("   ", "empty address"), ("ann@example.org\r\nBcc: x@y.org", "control")]:
        with pytest.raises(InputError, match=message):
            normalize_email(raw)
    assert normalize_email("  ann@EXAMPLE.org \t") == "ann@example.org"
