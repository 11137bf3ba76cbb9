"""Who a send reaches: segments chosen at send time, pending and departed members, the preference link."""

from __future__ import annotations

import email
import email.policy

from newsletter import tokens
from newsletter.store import connect, transaction
from newsletter.store import subscribers as store

PEOPLE = [
    ("oslo-red@example.org", {"city": "Oslo", "team": "red"}),
    ("oslo-blue@example.org", {"city": "Oslo", "team": "blue"}),
    ("bergen-red@example.org", {"city": "Bergen", "team": "red"}),
    ("nowhere@example.org", {}),
]


def people(database, extra_status: dict[str, str] | None = None) -> None:
    conn = connect(database)
    with transaction(conn):
        list_id = store.ensure_list(conn, "news")
        for address, attributes in PEOPLE:
            sid, _, _ = store.upsert_subscriber(conn, address, "", attributes)
            store.add_membership(conn, list_id, sid)
        for address, status in (extra_status or {}).items():
            sid, _, _ = store.upsert_subscriber(conn, address, "", {"city": "Oslo"})
            store.add_membership(conn, list_id, sid)
            conn.execute("UPDATE memberships SET status = ? WHERE subscriber_id = ?", (status, sid))
    conn.close()


def received(outbox) -> list[str]:
    found = []
    for path in sorted(outbox.glob("*/*.eml")):
        found.append(email.message_from_bytes(path.read_bytes(), policy=email.policy.default)["To"].addresses[0].addr_spec)
    return sorted(found)


def test_where_sends_to_matching_members_and_overlapping_segments_reach_nobody_twice(cli, settings, issue, tmp_path):
    people(settings.newsletter_database)
    run = cli(settings, "send", issue, "--list", "news", "--yes", "--where", "city=Oslo")
    assert run.exit_code == 0, run.output
    assert "List:       news where city=Oslo" in run.stdout and "this run: 2 accepted" in run.stdout
    assert received(tmp_path / "outbox") == ["oslo-blue@example.org", "oslo-red@example.org"]
    # Another segment is another send; oslo-red already has this issue from the first.
    run = cli(settings, "send", issue, "--list", "news", "--yes", "--where", "team=red")
    assert run.exit_code == 0 and "this run: 1 accepted" in run.stdout
    assert cli(settings, "segments", "save", "not-oslo", "--list", "news", "--where", "city!=Oslo").exit_code == 0
    run = cli(settings, "send", issue, "--list", "news", "--yes", "--segment", "not-oslo")
    assert run.exit_code == 0 and "this run: 1 accepted" in run.stdout  # nowhere@ (bergen-red had it)
    assert received(tmp_path / "outbox") == sorted(address for address, _ in PEOPLE)
    run = cli(settings, "send", issue, "--list", "news", "--yes", "--segment", "nope")
    assert run.exit_code == 2 and "nope: no such segment" in run.stderr
    run = cli(settings, "send", issue, "--list", "news", "--yes", "--where", "city")
    assert run.exit_code == 2 and "Error: " in run.stderr


def test_pending_and_departed_members_never_receive_an_issue(cli, settings, issue, tmp_path):
    people(settings.newsletter_database, {"pending@example.org": "pending", "left@example.org": "unsubscribed"})
    run = cli(settings, "send", issue, "--list", "news", "--yes")
    assert run.exit_code == 0 and "Recipients: 4 to send (0 suppressed" in run.stdout
    assert received(tmp_path / "outbox") == sorted(address for address, _ in PEOPLE)


def test_every_message_links_to_the_subscribers_preference_page(cli, settings, issue, tmp_path):
    people(settings.newsletter_database)
    assert cli(settings, "send", issue, "--list", "news", "--yes").exit_code == 0
    path = next((tmp_path / "outbox").glob("*/1.eml"))
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    html = message.get_body(("html",)).get_content()
    token = html.split("/p/", 1)[1].split('"', 1)[0]
    assert tokens.read_preferences(settings.newsletter_secret_key, token) == 1
    assert "/p/" + token in message.get_body(("plain",)).get_content()


def test_a_member_another_segment_send_still_holds_is_left_to_it(settings):
    """Overlapping segments of one issue: a member queued (not sent yet) or failed in one send is that send's to
    send or retry, so a second segment send leaves them out; else both would mail them."""
    from newsletter.store import ledger, sends
    from newsletter.store.segments import Audience, parse_conditions

    people(settings.newsletter_database)
    conn = connect(settings.newsletter_database)
    list_id = store.find_list(conn, "news")
    version = sends.SendVersion("h", "S", [], "outbox")

    def segment_send(condition: str) -> tuple[int, set[str]]:
        audience = Audience.of("news", parse_conditions([condition]))
        send_id, _, created = sends.create_send(conn, "x", list_id, audience, version)
        assert created
        rows = conn.execute("SELECT s.email FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
                            " WHERE d.send_id = ?", (send_id,)).fetchall()
        return send_id, {r[0] for r in rows}

    oslo, members = segment_send("city=Oslo")  # created, nothing sent yet: both rows queued
    assert members == {"oslo-red@example.org", "oslo-blue@example.org"}
    _, red = segment_send("team=red")
    assert red == {"bergen-red@example.org"}
    with transaction(conn):
        conn.execute("UPDATE deliveries SET state = 'failed', attempts = 1 WHERE send_id = ? AND subscriber_id ="
                     " (SELECT id FROM subscribers WHERE email = 'oslo-blue@example.org')", (oslo,))
    assert ledger.counts(conn, oslo)["failed"] == 1
    _, blue = segment_send("team=blue")  # oslo-blue failed in the Oslo send: `--retry-failed` of it is theirs
    assert blue == set()
    conn.close()
