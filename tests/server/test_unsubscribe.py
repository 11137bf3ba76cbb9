"""One-click unsubscribe (RFC 8058) through the real app."""

from __future__ import annotations

from newsletter import tokens
from newsletter.store import connect
from newsletter.store.runs import Process
from newsletter.store.segments import Audience
from newsletter.store.sends import SendVersion

SECRET = "tracking-test-secret-key-0123456789"


def _path(subscriber_id: int, send_id: int) -> str:
    return "/u/" + tokens.unsubscribe_url("http://x", SECRET, subscriber_id, send_id).rsplit("/u/", 1)[1]


def test_get_shows_a_confirm_page_and_never_unsubscribes(client, seed_send, status_of, count_events):
    ids = seed_send(emails=("<script>@example.org",))
    sub = ids["subscribers"][0]
    for _ in range(3):  # link scanners, previews, a curious user
        page = client.get(_path(sub, ids["send_id"]))
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert status_of(sub) == "active" and count_events() == 0
    assert "&lt;script&gt;@example.org" in page.text and "<script>" not in page.text
    assert "The &lt;Example&gt; News" in page.text
    assert '<form method="post"' in page.text and 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert '<html lang="en">' in page.text and "<button" in page.text


def test_one_click_post_unsubscribes_and_the_next_send_skips_the_address(client, seed_send, status_of, settings):
    ids = seed_send()
    ann, bob, cy = ids["subscribers"]
    answer = client.post(_path(ann, ids["send_id"]), data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200 and "no more emails" in answer.text
    assert "set-cookie" not in answer.headers and "location" not in answer.headers
    assert status_of(ann) == "unsubscribed" and status_of(bob) == "active"
    # A new send fixes its audience without Ann, and its claims never pick her.
    from newsletter.store import ledger, sends

    conn = connect(settings.newsletter_database)
    try:
        new_send, size, _ = sends.create_send(conn, "next", ids["list_id"], Audience(), SendVersion("y", "Next", [], "outbox"))
        from newsletter.store import runs

        run_id, _, _ = runs.start(conn, new_send, Process("t", "h", 1, ""), lease_s=60,
                                  is_gone=lambda run: False)
        picked, _ = ledger.claim(conn, new_send, ids["list_id"], run_id, ledger.Wanted("queued", 0, 100, 1, True))
    finally:
        conn.close()
    assert size == 2 and [p[0] for p in picked] == [bob, cy]


def test_multipart_and_repeated_posts_are_harmless(client, seed_send, status_of, count_events):
    ids = seed_send()
    ann = ids["subscribers"][0]
    path = _path(ann, ids["send_id"])
    first = client.post(path, files={"List-Unsubscribe": (None, "One-Click")})
    second = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert first.status_code == second.status_code == 200
    assert status_of(ann) == "unsubscribed"
    assert count_events("type = 'unsubscribe' AND subscriber_id = ?", ann) == 1
    assert "Already unsubscribed" in client.get(path).text


def test_unsubscribe_does_not_undo_a_worse_status(client, seed_send, status_of, settings):
    ids = seed_send()
    ann = ids["subscribers"][0]
    conn = connect(settings.newsletter_database)
    conn.execute("UPDATE subscribers SET status = 'complained' WHERE id = ?", (ann,))
    conn.close()
    assert client.post(_path(ann, ids["send_id"])).status_code == 200
    assert status_of(ann) == "complained"


def test_tampered_or_foreign_tokens_are_refused_alike(client, seed_send, status_of):
    ids = seed_send()
    ann = ids["subscribers"][0]
    good = _path(ann, ids["send_id"])
    payload, signature = good[3:].split(".")
    other_payload = tokens.sign(SECRET, "unsubscribe", [ids["subscribers"][1], ids["send_id"]]).split(".")[0]
    click_token = tokens.sign(SECRET, "click", [ann, ids["send_id"]])
    forged = tokens.sign("another-secret-key-0123456789", "unsubscribe", [ann, ids["send_id"]])
    bad = [f"/u/{payload}.{signature[:-2]}xx", f"/u/{other_payload}.{signature}", f"/u/{click_token}",
           f"/u/{forged}", "/u/garbage", "/u/%00%ff"]
    answers = [client.post(path) for path in bad] + [client.get(path) for path in bad]
    assert {a.status_code for a in answers} == {404}
    assert {a.text for a in answers} == {"This link is not valid.\n"}
    assert status_of(ann) == "active" and status_of(ids["subscribers"][1]) == "active"


def test_deleted_subscriber_gets_a_calm_page(client):
    path = _path(12345, 0)
    assert client.get(path).status_code == 200
    assert client.post(path).status_code == 200
