"""An old confirm link used after the person left says what is true: not subscribed (and changes nothing)."""

from __future__ import annotations

import pytest

from newsletter import tokens
from newsletter.audience.lists import create_list
from tests.audience.helpers import confirmation_files, membership, query, read_confirmation


@pytest.fixture
def config(settings, tmp_path):
    config = settings.with_overrides(newsletter_outbox=str(tmp_path / "outbox"))
    create_list("news", config, title="Harbour News", signup=True)
    return config


def test_an_old_confirm_link_after_unsubscribing_says_not_subscribed(config, make_client):
    with make_client(config) as http:
        http.post("/subscribe/news", data={"email": "ann@example.org", "consent": "yes"})
        [eml] = confirmation_files(config.newsletter_outbox)
        path = read_confirmation(eml)[2].split("testserver", 1)[1]
        first = http.post(path)
        assert first.status_code == 200 and "You are subscribed" in first.text and "ann@example.org" in first.text
        [(sid,)] = query(config.newsletter_database, "SELECT id FROM subscribers")
        unsubscribe = "/u/" + tokens.unsubscribe_url("", config.newsletter_secret_key, sid, 0).rsplit("/u/", 1)[1]
        assert http.post(unsubscribe).status_code == 200

        for answer in (http.post(path), http.get(path)):
            assert answer.status_code == 200
            assert "You are subscribed" not in answer.text and "now receives" not in answer.text
            assert "Not subscribed" in answer.text and "sign up again" in answer.text
        assert query(config.newsletter_database, "SELECT status FROM subscribers") == [("unsubscribed",)]


def test_an_old_confirm_link_after_leaving_the_list_says_not_subscribed(config, make_client):
    from newsletter.store import connect, transaction

    with make_client(config) as http:
        http.post("/subscribe/news", data={"email": "bob@example.org", "consent": "yes"})
        [eml] = confirmation_files(config.newsletter_outbox)
        path = read_confirmation(eml)[2].split("testserver", 1)[1]
        assert "You are subscribed" in http.post(path).text
        conn = connect(config.newsletter_database)
        with transaction(conn):  # what the preference page's "leave this list" writes
            conn.execute("UPDATE memberships SET status = 'unsubscribed'")
        conn.close()
        answer = http.post(path)
        assert "Not subscribed" in answer.text and "You are subscribed" not in answer.text
        assert membership(config.newsletter_database, "bob@example.org", "news") == "unsubscribed"
