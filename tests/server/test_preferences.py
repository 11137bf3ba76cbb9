"""The preference page (/p/<token>): public lists, leaving some or all, correcting the name; GET changes nothing."""

from __future__ import annotations

import pytest

from newsletter import tokens
from newsletter.audience.lists import create_list
from tests.audience.helpers import add_people, membership, query

XSS = '<script>alert("x")</script>'


@pytest.fixture
def ann(settings):
    """ann@example.org on two public lists and one internal list (signup off); returns her preference page path."""
    create_list("news", settings, title="Harbour News", signup=True)
    create_list("events", settings, title="Events <& meetups>", signup=True)
    [sid] = add_people(settings.newsletter_database, "news", [("ann@example.org", {})])
    add_people(settings.newsletter_database, "events", [("ann@example.org", {})])
    add_people(settings.newsletter_database, "staff-only", [("ann@example.org", {})])
    return tokens.preferences_url("", settings.newsletter_secret_key, sid)


def test_page_shows_every_list_she_is_on_and_changes_nothing(client, settings, ann):
    page = client.get(ann)
    assert page.status_code == 200
    assert "Harbour News" in page.text and "Events &lt;&amp; meetups&gt;" in page.text
    assert 'value="staff-only" checked' in page.text and "ann@example.org" in page.text
    assert "Unsubscribe from everything" in page.text
    assert [membership(settings.newsletter_database, "ann@example.org", n) for n in ("news", "events", "staff-only")] == [
        "active", "active", "active"]


def test_leave_one_list_and_correct_the_name(client, settings, ann):
    saved = client.post(ann, data={"action": "save", "name": XSS, "list": ["news", "staff-only"]})
    assert saved.status_code == 200 and "Saved." in saved.text
    assert "&lt;script&gt;" in saved.text and XSS not in saved.text
    database = settings.newsletter_database
    assert membership(database, "ann@example.org", "events") == "unsubscribed"
    assert membership(database, "ann@example.org", "news") == "active"
    assert membership(database, "ann@example.org", "staff-only") == "active"  # kept ticked
    assert query(database, "SELECT name FROM subscribers") == [(XSS,)]
    assert "Events" not in client.get(ann).text


def test_leave_everything(client, settings, ann):
    done = client.post(ann, data={"action": "leave-all"})
    assert done.status_code == 200 and "unsubscribed from everything" in done.text
    assert query(settings.newsletter_database, "SELECT status, status_reason FROM subscribers") == [
        ("unsubscribed", "preferences")]
    assert "You are unsubscribed" in client.get(ann).text


def test_bad_tokens_and_requests(client, settings, ann):
    unsubscribe_token = tokens.unsubscribe_url("", settings.newsletter_secret_key, 1).rsplit("/", 1)[1]
    assert client.get(f"/p/{unsubscribe_token}").status_code == 404
    assert client.get(ann[:-2] + "xx").status_code == 404
    assert client.post(ann, data={"action": "delete-everything"}).status_code == 400
    assert client.post(ann, data={"action": "save", "name": "x" * 20_000}).status_code == 413
    assert client.get(tokens.preferences_url("", settings.newsletter_secret_key, 999)).status_code == 200  # nobody


def test_unsubscribe_page_links_to_the_preferences(client, settings, ann):
    page = client.get(tokens.unsubscribe_url("", settings.newsletter_secret_key, 1))
    assert f'href="{ann}"' in page.text and "Manage your subscription instead" in page.text


def test_lists_made_by_an_import_are_shown_and_can_be_left(client, settings, tmp_path):
    """`subscribers import` makes lists with signup off: an active member still sees and can leave them."""
    from typer.testing import CliRunner

    from newsletter.cli import app
    from tests.delivery.fakes import settings_env

    cli_env = settings_env(settings)
    people = tmp_path / "people.csv"
    people.write_text("email,name\nemeka@example.org,Emeka Okafor\n", encoding="utf-8")
    for name in ("members", "volunteers"):
        run = CliRunner().invoke(app, ["subscribers", "import", str(people), "--list", name], env=cli_env)
        assert run.exit_code == 0, run.output
    [(sid,)] = query(settings.newsletter_database, "SELECT id FROM subscribers")
    page = tokens.preferences_url("", settings.newsletter_secret_key, sid)
    shown = client.get(page).text
    assert "You are not on any" not in shown
    assert 'value="members" checked' in shown and 'value="volunteers" checked' in shown
    saved = client.post(page, data={"action": "save", "name": "Emeka Okafor", "list": "members"})
    assert saved.status_code == 200 and 'value="volunteers"' not in saved.text
    database = settings.newsletter_database
    assert [membership(database, "emeka@example.org", n) for n in ("members", "volunteers")] == ["active", "unsubscribed"]
    left = client.post(page, data={"action": "save", "name": "Emeka Okafor"})
    assert "You are not on any list." in left.text
    assert query(database, "SELECT status FROM subscribers") == [("active",)]
