"""VERP return paths, the bounce classifier over the corpus, and the bounce settings."""

from __future__ import annotations

import pytest

from newsletter.errors import ConfigError
from newsletter.return_path import ReturnPaths
from newsletter.settings import load_settings
from newsletter.tracking.bounces.classify import classify, failure_kind, parse
from tests.tracking.bounce_helpers import CORPUS, corpus_message

SECRET = "bounce-test-secret-key-0123456789"


# --- return paths -------------------------------------------------------------


def test_verp_address_round_trips_and_survives_lower_and_upper_case():
    paths = ReturnPaths("bounces@News.Example.org", SECRET)
    address = paths.address(12, 345678, 2)
    local, domain = address.split("@")
    assert domain == "news.example.org" and local.startswith("bounces+")
    assert len(local) <= 64 and local == local.lower()
    assert paths.find(f"To: <{address}>") == (12, 345678, 2)
    assert paths.find(address.upper()) == (12, 345678, 2)  # a relay that upper-cases local parts
    assert paths.find(f"Delivered-To: {address}\r\n") == (12, 345678, 2)


def test_verp_token_refuses_forgery_other_keys_and_other_domains():
    paths = ReturnPaths("bounces@news.example.org", SECRET)
    token = paths.token(1, 2, 1)
    flipped = token[:-1] + ("a" if token[-1] != "a" else "b")
    assert paths.read_token(flipped) is None
    assert paths.read_token(token[:-2]) is None
    assert paths.read_token("") is None and paths.read_token("!!!!") is None
    assert ReturnPaths("bounces@news.example.org", "another-secret-key-0123456789").read_token(token) is None
    assert paths.find(f"bounces+{token}@elsewhere.example.com") is None
    assert paths.find(f"bounces+{token}@news.example.org") == (1, 2, 1)


# --- the classifier over the corpus ---------------------------------------------

EXPECTED = {
    # file: (kind, shape, status)
    "postfix_hard.eml": ("hard", "dsn", "5.1.1"),
    "postfix_mailbox_full.eml": ("soft", "dsn", "5.2.2"),
    "postfix_delayed.eml": ("delayed", "dsn", "4.4.1"),
    "exim_dsn.eml": ("hard", "dsn", "5.1.1"),
    "exim_text.eml": ("hard", "exim", "5.1.1"),
    "exchange_hard.eml": ("hard", "dsn", "5.1.10"),
    "gmail_hard.eml": ("hard", "dsn", "5.1.1"),
    "gmail_soft.eml": ("soft", "dsn", "4.2.2"),
    "yahoo_text.eml": ("hard", "text", "5.0.0"),
    "yahoo_arf.eml": ("complaint", "arf", ""),
    "qmail_hard.eml": ("hard", "qmail", "5.1.1"),
    "auto_reply.eml": ("auto-reply", "auto-reply", ""),
    "subscriber_reply.eml": ("other", "none", ""),
}


def test_the_corpus_is_all_covered():
    assert {p.name for p in CORPUS.glob("*.eml")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_shape_is_classified_with_its_status_recipient_and_message_id(name):
    paths = ReturnPaths("bounces@news.example.org", SECRET)
    data = corpus_message(name, verp=paths.address(3, 7, 1))
    verdict = classify(parse(data))
    assert (verdict.kind, verdict.shape, verdict.status) == EXPECTED[name]
    if verdict.is_bounce:
        assert verdict.recipient == "ann@example.com"
        assert "<3.7.0a1b2c3d4e5f@example.org>" in verdict.message_ids
        assert verdict.diagnostic
    assert paths.find(data.decode("latin-1")) == (3, 7, 1)  # every shape carries the VERP address somewhere


def test_a_person_writing_bounce_words_is_not_a_bounce():
    message = parse(b"From: Ann <ann@example.com>\r\nSubject: Undeliverable: my thoughts\r\n\r\n"
                    b"This is a permanent error 550 5.1.1 in your newsletter.\r\n")
    assert classify(message).kind == "other"


def test_a_daemon_text_without_any_grade_is_not_guessed():
    message = parse(b"From: MAILER-DAEMON@example.net\r\nSubject: Undeliverable\r\n\r\nSomething happened to your mail.\r\n")
    assert classify(message).kind == "other"


@pytest.mark.parametrize(("status", "kind"), [("5.1.1", "hard"), ("5.0.0", "hard"), ("5.2.2", "soft"),
                                               ("5.7.1", "soft"), ("4.2.2", "soft"), ("4.4.7", "soft")])
def test_permanent_codes_that_mean_try_later_are_soft(status, kind):
    assert failure_kind(status) == kind


# --- settings -------------------------------------------------------------------


@pytest.mark.parametrize(("env", "subject"), [
    ({"NEWSLETTER_BOUNCE_ADDRESS": "bounces+x@news.example.org"}, "NEWSLETTER_BOUNCE_ADDRESS"),
    ({"NEWSLETTER_BOUNCE_ADDRESS": "no-domain"}, "NEWSLETTER_BOUNCE_ADDRESS"),
    ({"NEWSLETTER_BOUNCE_MAILBOX": "http://user:hunter2@example.org/"}, "NEWSLETTER_BOUNCE_MAILBOX"),
    ({"NEWSLETTER_BOUNCE_MAILBOX": "pop3s://u:hunter2@h", "NEWSLETTER_BOUNCE_FOLDER": "Done"}, "NEWSLETTER_BOUNCE_FOLDER"),
    ({"NEWSLETTER_BOUNCE_SOFT_LIMIT": "0"}, "NEWSLETTER_BOUNCE_SOFT_LIMIT"),
    ({"NEWSLETTER_BOUNCE_SOFT_LIMIT": "4", "NEWSLETTER_BOUNCE_SOFT_WINDOW": "3"}, "NEWSLETTER_BOUNCE_SOFT_WINDOW"),
])
def test_bad_bounce_settings_are_refused_naming_the_setting_never_the_password(env, subject):
    with pytest.raises(ConfigError) as caught:
        load_settings({**env, "NEWSLETTER_ENV_FILE": "/dev/null"})
    assert caught.value.subject == subject
    assert "hunter2" not in str(caught.value)


def test_the_mailbox_url_is_a_secret():
    config = load_settings({"NEWSLETTER_BOUNCE_MAILBOX": "imaps://u:hunter2@imap.example.org/INBOX",
                            "NEWSLETTER_ENV_FILE": "/dev/null"})
    assert "hunter2" not in repr(config)
